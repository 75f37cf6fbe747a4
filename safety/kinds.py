"""Each rule kind's settings: defaults, bounds and validation, shared by the admin and the import.

A rule's ``settings`` is a JSON object whose keys depend on its kind (contract §13). ``clean_settings``
returns the settings with defaults filled in, or raises ``ValidationError`` naming the problem, so an
invalid rule is refused wherever it comes from.
"""

from __future__ import annotations

from typing import Any

import re2
from django.core.exceptions import ValidationError

from safety.text import words

MAX_TERMS = 1000
MAX_TERM_CHARS = 100
MAX_PATTERN_CHARS = 500
MAX_DOMAINS = 1000
MAX_WINDOW_MINUTES = 120
_DOMAIN_LABEL = re2.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


def compile_pattern(pattern: str) -> re2._Regexp:
    """Compile with RE2 (linear time); raises ``ValidationError`` for a pattern RE2 refuses."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        message = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise ValidationError({"settings": [f"RE2 refuses this pattern: {message}"]}) from None


def normalize_domain(domain: str) -> str:
    """``Evil.COM.`` → ``evil.com``; an IDN in punycode, as links are compared."""
    domain = domain.strip().lower().rstrip(".")
    if domain.startswith("*."):
        domain = domain[2:]
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise ValidationError({"settings": [f"{domain!r} is not a domain name."]}) from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise ValidationError({"settings": [f"{domain!r} is not a domain name (e.g. evil.com)."]})
    return domain


def _fail(message: str) -> ValidationError:
    return ValidationError({"settings": [message]})


def _number(settings: dict, key: str, *, default: float | None, low: float, high: float, integer: bool = True) -> Any:
    value = settings.get(key, default)
    if value is None:
        raise _fail(f"{key} is required.")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise _fail(f"{key} must be a {'whole ' if integer else ''}number.")
    if not low <= value <= high:
        raise _fail(f"{key} must be between {low} and {high}.")
    return int(value) if integer else float(value)


def _string_list(settings: dict, key: str, *, most: int) -> list[str]:
    value = settings.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise _fail(f"{key} must be a non-empty list of strings.")
    if len(value) > most:
        raise _fail(f"{key} may hold at most {most} entries.")
    return value


def _terms(settings: dict) -> dict:
    terms = _string_list(settings, "terms", most=MAX_TERMS)
    for term in terms:
        if len(term) > MAX_TERM_CHARS:
            raise _fail(f"A term has at most {MAX_TERM_CHARS} characters: {term[:20]!r}…")
        if not words(term):
            raise _fail(f"A term needs a letter or digit: {term!r}.")
    return {"terms": terms}


def _pattern(settings: dict) -> dict:
    pattern = settings.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise _fail("pattern must be a non-empty string.")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise _fail(f"pattern has at most {MAX_PATTERN_CHARS} characters.")
    compile_pattern(pattern)
    return {"pattern": pattern}


def _links(settings: dict) -> dict:
    domains = [normalize_domain(domain) for domain in _string_list(settings, "domains", most=MAX_DOMAINS)]
    mode = settings.get("mode", "deny")
    if mode not in {"deny", "allow"}:
        raise _fail('mode is "deny" or "allow".')
    return {"domains": domains, "mode": mode}


def _near_duplicate(settings: dict) -> dict:
    return {
        "similarity": _number(settings, "similarity", default=0.7, low=0.3, high=1.0, integer=False),
        "agents": _number(settings, "agents", default=3, low=1, high=100),
        "window": _number(settings, "window", default=10, low=1, high=MAX_WINDOW_MINUTES),
    }


def _new_agent(settings: dict) -> dict:
    return {"minutes": _number(settings, "minutes", default=None, low=1, high=60 * 24 * 30)}


def _flood(settings: dict) -> dict:
    return {
        "posts": _number(settings, "posts", default=None, low=1, high=100_000),
        "seconds": _number(settings, "seconds", default=None, low=1, high=3600),
        "minutes": _number(settings, "minutes", default=None, low=1, high=24 * 60),
    }


_CLEANERS = {
    "terms": _terms,
    "pattern": _pattern,
    "links": _links,
    "near_duplicate": _near_duplicate,
    "new_agent": _new_agent,
    "flood": _flood,
}
KINDS = tuple(_CLEANERS)


def clean_settings(kind: str, settings: Any) -> dict:
    """The settings of a rule of ``kind`` with defaults filled in; unknown keys are refused."""
    if kind not in _CLEANERS:
        raise ValidationError({"kind": [f"kind is one of {', '.join(KINDS)}."]})
    if not isinstance(settings, dict):
        raise _fail("settings must be a JSON object.")
    cleaned = _CLEANERS[kind](settings)
    unknown = sorted(set(settings) - set(cleaned))
    if unknown:
        raise _fail(f"Unknown setting(s) for a {kind} rule: {', '.join(unknown)}.")
    return cleaned
