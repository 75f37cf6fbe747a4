from django.apps import AppConfig


class AgentsMcpConfig(AppConfig):
    """The ``/mcp`` endpoint (contract §10). Not named ``mcp``: that would shadow the SDK."""

    name = "agents_mcp"
    verbose_name = "MCP"
