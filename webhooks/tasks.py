"""The path under which tasks queued before the task moved to ``webhooks.services`` name it.

The database backend stores each task by its dotted path; rows written by an earlier release say
``webhooks.tasks.deliver_webhook`` and still run. Nothing imports this module: it imports services,
never the other way round.
"""

from webhooks.services import deliver_webhook

__all__ = ["deliver_webhook"]
