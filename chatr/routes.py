"""The request table: for every path, which chain serves it (``settings.CHATR_ROUTES``).

A row is ``(pattern, chain, part)`` or ``(pattern, chain, part, command)``. ``pattern`` is an exact path, a path
with parameter segments written as in the URLconf (``/ai/groups/<str:group_id>/messages``: a whole segment, the
``str`` converter only, matched as Django matches it), or a prefix ending in ``*``; exact rows win, then rows with
parameters, then prefixes, each in the table's order. ``chain`` is one of

- ``mount``: an ASGI application of an app, served as it is (``part``: its dotted path; MCP);
- ``stream``: a long-lived response written from the event loop (Django's async handler, no thread);
- ``api``: Django's sync handler and DRF on a request thread, errors in the contract's JSON shape;
- ``page``: the same for HTML pages and the admin (sessions, CSRF, static files), Django's own error pages.

For ``api`` and ``page``, ``part`` may name a ready-answer rule (``chatr.response_cache.Rule``): ``GET``/``HEAD``
of that path are answered from ready-made bytes while they are current. The plumbing every route shares (body
limit, client IP, host check, the per-IP request limit, the request log and metrics, the error shape) lives in
``chatr.edge``; which of it applies is a property of the chain, here.

An ``api`` row may also name a *command* (``chatr.commands.Command``, by dotted path): a ``POST`` to that path is
then answered by it from the event loop and one thread, without Django's handler or DRF's per-request objects,
with the same answer the view gives (``chatr.commands``); every other method of the path goes where it goes
without one, and so does a POST the command does not take exactly as the view would (it falls through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings

CHAINS = ("mount", "stream", "api", "page")
_PARAMETER = re.compile(r"<(?:str:)?([A-Za-z_][A-Za-z0-9_]*)>")  # Django's syntax; its str converter's regex below
_STR = "[^/]+"


@cache
def matcher(pattern: str) -> re.Pattern[str] | None:
    """The regular expression of a pattern with parameter segments (``None`` for one without), as Django's resolver
    matches the URLconf's ``<str:name>``: a segment of one or more characters but ``/``, the whole path."""
    if "<" not in pattern:
        return None
    parts = []
    for segment in pattern.split("/"):
        if "<" not in segment and ">" not in segment:
            parts.append(re.escape(segment))
            continue
        found = _PARAMETER.fullmatch(segment)
        if found is None:
            raise ValueError(f"CHATR_ROUTES: {pattern!r}: a parameter is a whole segment, <name> or <str:name>")
        parts.append(f"(?P<{found[1]}>{_STR})")
    return re.compile("/".join(parts))


def parameters_of(pattern: str, path: str) -> dict[str, str]:
    """The values of ``pattern``'s parameters in ``path``, which the table routed to it (``{}`` for none)."""
    compiled = matcher(pattern)
    found = compiled.fullmatch(path) if compiled is not None else None
    return found.groupdict() if found is not None else {}


@dataclass(frozen=True)
class Route:
    pattern: str
    chain: str
    part: str | None = None
    command: str | None = None  # for POST (chatr.commands)

    @property
    def speaks_json(self) -> bool:
        """Errors in the contract's shape (``{"success": false, …}``) rather than Django's pages."""
        return self.chain in ("api", "stream")

    @property
    def counts_per_ip(self) -> bool:
        """Counted against ``requests_per_ip`` at the edge (a mount counts its own requests)."""
        return self.chain in ("api", "stream")


@dataclass(frozen=True)
class Table:
    exact: dict[str, Route]
    prefixes: tuple[tuple[str, Route], ...]
    fallback: Route
    # (the literal start before the first parameter, the whole pattern's regular expression, the route)
    parametrised: tuple[tuple[str, re.Pattern[str], Route], ...] = field(default=())

    @property
    def every(self) -> list[Route]:
        """Every row's route, exact rows first."""
        return [*self.exact.values(), *(route for *_, route in self.parametrised), *(r for _, r in self.prefixes)]

    def route_for(self, path: str) -> Route:
        route = self.exact.get(path)
        if route is not None:
            return route
        for start, compiled, candidate in self.parametrised:
            if path.startswith(start) and compiled.fullmatch(path):
                return candidate
        for prefix, candidate in self.prefixes:
            if path.startswith(prefix):
                return candidate
        return self.fallback


def build(rows: list[tuple]) -> Table:
    exact: dict[str, Route] = {}
    prefixes: list[tuple[str, Route]] = []
    parametrised: list[tuple[str, re.Pattern[str], Route]] = []
    for row in rows:
        pattern, chain, part, *rest = row
        command = rest[0] if rest else None
        if chain not in CHAINS:
            raise ValueError(f"CHATR_ROUTES: {pattern!r} names an unknown chain {chain!r}")
        if command is not None and chain != "api":
            raise ValueError(f"CHATR_ROUTES: {pattern!r} names a command on the {chain!r} chain (only api has them)")
        route = Route(pattern, chain, part, command)
        compiled = matcher(pattern)
        if pattern.endswith("*"):
            prefixes.append((pattern[:-1], route))
        elif compiled is not None:
            parametrised.append((pattern[: pattern.index("<")], compiled, route))
        else:
            exact.setdefault(pattern, route)
    return Table(exact, tuple(prefixes), Route("*", "page"), tuple(parametrised))


_built: tuple[Any, Table] | None = None


def table() -> Table:
    """The table of ``settings.CHATR_ROUTES``, built once (again if a test swaps the setting)."""
    global _built
    rows = settings.CHATR_ROUTES
    if _built is None or _built[0] is not rows:
        _built = (rows, build(rows))
    return _built[1]


def route_for(path: str) -> Route:
    return table().route_for(path)


def speaks_json(path: str) -> bool:
    return route_for(path).speaks_json
