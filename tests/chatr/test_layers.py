"""The import rules between the packages (README, "Layout"), read from the source with ``ast``.

``chatr/`` is plumbing and imports no app (the URLconf and the settings name apps, as Django's
convention has it); webhooks knows nothing of chat; accounts knows nothing of verification; and
``webhooks.tasks`` imports ``webhooks.services``, never the other way round.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "chat", "verification", "webhooks", "search", "agents_mcp")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at module level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


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


def test_the_parser_sees_imports_inside_functions_too(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import os\n\ndef late():\n    from chat.models import Message\n    import webhooks.tasks\n")
    assert reaches(imported_modules(module), "chat") == ["chat.models", "chat.models.Message"]
    assert reaches(imported_modules(module), "webhooks") == ["webhooks.tasks"]
    assert reaches(imported_modules(module), "chatr") == []  # "chatr" is not "chat"


def test_chatr_is_plumbing_and_imports_no_app():
    assert violations("chatr", APPS, allowed=("chatr/urls.py", "chatr/settings.py")) == {}


def test_webhooks_imports_nothing_of_chat():
    assert violations("webhooks", ("chat",)) == {}


def test_accounts_imports_nothing_of_verification():
    assert violations("accounts", ("verification",)) == {}


def test_webhooks_services_and_tasks_import_in_one_direction_only():
    assert reaches(imported_modules(ROOT / "webhooks" / "services.py"), "webhooks.tasks") == []
    assert reaches(imported_modules(ROOT / "webhooks" / "tasks.py"), "webhooks.services")


def test_the_app_parts_that_settings_name_by_dotted_path_exist():
    """A typo would otherwise surface only at a server's start or in a worker's housekeeping thread."""
    from chatr.response_cache import Rule

    for pattern, chain, part in settings.CHATR_ROUTES:
        if chain == "mount":
            assert callable(import_string(part)), pattern
        elif part is not None:
            assert isinstance(import_string(part), Rule), pattern
    for path in settings.CHATR_ASGI_LOOP_HOOKS:
        assert callable(import_string(path)), path
    assert callable(import_string(settings.CHATR_REQUEST_AGENT))
    assert inspect.iscoroutinefunction(import_string(settings.CHATR_RESPONSE_CACHE_VERSIONS))
    for path, seconds in settings.CHATR_WORKER_JOBS.items():
        inspect.signature(import_string(path)).bind()  # a job is called with no arguments
        assert seconds > 0, path


def test_requests_of_django_s_own_handlers_pass_the_edge_first():
    """The test client and ``runserver`` get the client IP, limits and the log line from the same edge."""
    assert settings.MIDDLEWARE[0] == "chatr.edge.EdgeMiddleware"
