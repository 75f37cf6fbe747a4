"""The import rules between the packages (README, "Layout"), read from the source with ``ast``.

Every import counts, at module level or inside a function (an import kept inside a function to dodge
a circle is still the circle). The rules: ``chatr/`` is plumbing and imports no app (the URLconf and
the settings name apps, as Django's convention has it); ``realtime/`` is the engine below every app and
imports none, and the apps reach it through ``realtime.api`` only; accounts knows nothing of chat,
webhooks or verification; webhooks knows nothing of chat; nothing imports the MCP adapters; and there
is no import circle between apps, nor between the modules of one app.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "chat", "verification", "webhooks", "search", "agents_mcp", "realtime", "safety")
PACKAGES = (*APPS, "chatr")

# View modules: what serves HTTP. The MCP tools are another edge over the same services, never over a view.
VIEW_MODULES = (
    "accounts.api",
    "accounts.aiclient",
    "chat.api",
    "chat.aiclient",
    "chat.pages",
    "chat.stream",
    "search.api",
    "search.pages",
    "verification.api",
    "safety.api",
)


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at module level or inside a function."""
    names: set[str] = set()
    package = _module_of(path).rpartition(".")[0] if path.name != "__init__.py" else _module_of(path)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the importing module's package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            if module:
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts) if path.is_relative_to(ROOT) else [path.stem]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def reaches(names: set[str], package: str) -> list[str]:
    return sorted(name for name in names if name == package or name.startswith(f"{package}."))


def sources(package: str) -> list[Path]:
    paths = sorted((ROOT / package).rglob("*.py"))
    assert paths, f"no sources under {package}/"
    return paths


def violations(package: str, forbidden: tuple[str, ...], *, allowed: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sources(package):
        relative = path.relative_to(ROOT).as_posix()
        if relative in allowed:
            continue
        names = imported_modules(path)
        hits = [hit for other in forbidden for hit in reaches(names, other)]
        if hits:
            found[relative] = hits
    return found


def module_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (a name that is not a module resolves to its module)."""
    modules = {_module_of(path): path for package in PACKAGES for path in sources(package)}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {resolve(name) for name in imported_modules(path)}
        graph[module] = {target for target in targets if target is not None and target != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of ``graph`` with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package → the other packages it imports."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        for target in targets:
            source, destination = module.partition(".")[0], target.partition(".")[0]
            if source != destination:
                packages.setdefault(source, set()).add(destination)
    return packages


def test_the_parser_sees_imports_inside_functions_too(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import os\n\ndef late():\n    from chat.models import Message\n    import webhooks.tasks\n")
    assert reaches(imported_modules(module), "chat") == ["chat.models", "chat.models.Message"]
    assert reaches(imported_modules(module), "webhooks") == ["webhooks.tasks"]
    assert reaches(imported_modules(module), "chatr") == []  # "chatr" is not "chat"


def test_the_circle_finder_finds_a_circle_and_nothing_else():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_chatr_is_plumbing_and_imports_no_app():
    assert violations("chatr", APPS, allowed=("chatr/urls.py", "chatr/settings.py")) == {}


def test_realtime_is_below_every_app_and_imports_none():
    assert violations("realtime", tuple(app for app in APPS if app != "realtime")) == {}


def test_apps_reach_realtime_through_its_api_only():
    """``realtime.api`` is the engine's one public module (with ``versions``, which it exports)."""
    public = {"realtime", "realtime.api", "realtime.api.versions"}
    found = {}
    for package in (app for app in APPS if app != "realtime"):
        for path in sources(package):
            inside = [name for name in reaches(imported_modules(path), "realtime") if name not in public]
            if inside:
                found[path.relative_to(ROOT).as_posix()] = inside
    assert found == {}


def test_webhooks_imports_nothing_of_chat():
    assert violations("webhooks", ("chat",)) == {}


def test_accounts_imports_nothing_of_chat_webhooks_or_verification():
    assert violations("accounts", ("chat", "webhooks", "verification")) == {}


def test_nothing_imports_the_mcp_adapters():
    """``/mcp`` is mounted by the request table (``CHATR_ROUTES``); no app depends on it."""
    others = (package for package in PACKAGES if package != "agents_mcp")
    assert {package: found for package in others if (found := violations(package, ("agents_mcp",)))} == {}


def test_chat_and_accounts_import_nothing_of_search():
    """Search keeps its index from chat's signals and owns its route and migrations."""
    assert violations("chat", ("search",)) == {}
    assert violations("accounts", ("search",)) == {}


def test_mcp_tools_call_no_view_module():
    assert violations("agents_mcp", VIEW_MODULES) == {}


def test_no_import_circle_between_the_modules_of_one_app():
    graph = module_graph()
    inside = {
        module: {target for target in targets if target.partition(".")[0] == module.partition(".")[0]}
        for module, targets in graph.items()
    }
    assert circles(inside) == []


def test_no_import_circle_between_apps():
    packages = package_graph(module_graph())
    assert circles(packages) == []


def test_chat_reaches_the_house_rules_only_through_its_setting():
    """chat calls ``settings.CHATR_POST_CHECK``; safety builds on chat, never the other way round."""
    assert violations("chat", ("safety",)) == {}
    assert violations("accounts", ("safety",)) == {}
    assert callable(import_string(settings.CHATR_POST_CHECK))


def test_accounts_imports_nothing_of_verification():
    assert violations("accounts", ("verification",)) == {}


def test_webhooks_services_and_tasks_import_in_one_direction_only():
    assert reaches(imported_modules(ROOT / "webhooks" / "services.py"), "webhooks.tasks") == []
    assert reaches(imported_modules(ROOT / "webhooks" / "tasks.py"), "webhooks.services")


def test_the_app_parts_that_settings_name_by_dotted_path_exist():
    """A typo would otherwise surface only at a server's start or in a worker's housekeeping thread."""
    from chatr.commands import Command
    from chatr.response_cache import Rule

    for pattern, chain, part, *command in settings.CHATR_ROUTES:
        if chain == "mount":
            assert callable(import_string(part)), pattern
        elif part is not None:
            assert isinstance(import_string(part), Rule), pattern
        for path in command:
            assert isinstance(import_string(path), Command), pattern
    for path in settings.CHATR_ASGI_LOOP_HOOKS:
        assert callable(import_string(path)), path
    assert callable(import_string(settings.CHATR_REQUEST_AGENT))
    assert inspect.iscoroutinefunction(import_string(settings.CHATR_RESPONSE_CACHE_VERSIONS))
    assert inspect.isclass(import_string(settings.CHATR_REALTIME_BACKEND))
    for path, seconds in settings.CHATR_WORKER_JOBS.items():
        inspect.signature(import_string(path)).bind()  # a job is called with no arguments
        assert seconds > 0, path


def test_requests_of_django_s_own_handlers_pass_the_edge_first():
    """The test client and ``runserver`` get the client IP, limits and the log line from the same edge."""
    assert settings.MIDDLEWARE[0] == "chatr.edge.EdgeMiddleware"
