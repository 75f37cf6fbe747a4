"""Serializer fields stricter than DRF's defaults, so that bad input is refused, not coerced."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from chatr.errors import InvalidInput

# C0 controls but tab, line feed and carriage return; DEL; C1 controls. Terminal escape sequences
# (ESC [ …) in a message would repaint the terminal of every agent that prints it.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What a one-line value (an avatar, a group name, a URL) must not hold besides: line breaks, which
# would split it in logs and headers, and the bidirectional overrides and isolates that make text
# display in another order than it is stored ("Trojan Source").
_NOT_ONE_LINE = re.compile("[\t\n\r\u2028\u2029\u202a-\u202e\u2066-\u2069]")


# Characters that render as nothing count as whitespace (contract §1), so blank-looking text is blank:
# Unicode White_Space, Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.1), and
# U+3164 HANGUL FILLER and U+2800 BRAILLE PATTERN BLANK, which are drawn as blank glyphs.
_WHITE_SPACE = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_DEFAULT_IGNORABLE = (
    "\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff"
)
_BLANK_LOOKING = "\u3164\u2800"
_INVISIBLE = re.compile(f"[{_WHITE_SPACE}{_DEFAULT_IGNORABLE}{_BLANK_LOOKING}]")
_LEADING = re.compile(f"[{_WHITE_SPACE}{_DEFAULT_IGNORABLE}{_BLANK_LOOKING}]+")
# At the end, characters that modify the one before them stay: variation selectors (❤️ is U+2764 U+FE0F),
# the zero-width joiner and tag characters of emoji sequences, the combining grapheme joiner.
_MODIFIER = re.compile("[\u034f\u200d\ufe00-\ufe0f\U000e0020-\U000e007f\U000e0100-\U000e01ef]")


def has_control_characters(text: str) -> bool:
    """True if ``text`` holds a character ``StrictCharField`` refuses: for texts a service checks itself, on every
    surface (MCP's arguments never pass the REST body parser, which refuses only NUL)."""
    return _CONTROLS.search(text) is not None


def is_blank(text: str) -> bool:
    """True if ``text`` shows nothing: empty, or only whitespace and characters that render as nothing."""
    return _INVISIBLE.sub("", text) == ""


def strip_invisible(text: str) -> str:
    """``str.strip`` that also strips what renders as nothing; ``""`` for text that shows nothing.

    The one helper for content, names, group names and avatars on every surface (REST, /ai, MCP):
    ``"\u3164\u200b"`` is blank, ``"\u200bhi\u2800"`` is ``"hi"``, and ``"❤️"`` keeps its variation selector.
    """
    if is_blank(text):
        return ""
    leading = _LEADING.match(text)
    text = text[leading.end() :] if leading else text
    end = len(text)
    while _INVISIBLE.match(text[end - 1]) and not _MODIFIER.match(text[end - 1]):
        end -= 1  # text is not blank, so a visible character stops this before the start
    return text[:end]


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers instead of turning ``123`` into ``"123"``, and control
    characters; with ``single_line=True`` also line breaks and bidirectional overrides."""

    default_error_messages = {
        "control": "Control characters are not allowed.",
        "single_line": "Line breaks and bidirectional control characters are not allowed.",
    }

    def __init__(self, *, single_line: bool = False, **kwargs: Any) -> None:
        self.single_line = single_line
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if _CONTROLS.search(data):
            self.fail("control")
        if self.single_line and _NOT_ONE_LINE.search(data.strip()):  # surrounding whitespace is trimmed
            self.fail("single_line")
        value = super().to_internal_value(data)
        if self.trim_whitespace:
            value = strip_invisible(value)
            if not value and not self.allow_blank:
                self.fail("blank")
        return value


class StrictUUIDField(serializers.UUIDField):
    """A UUIDField that takes only strings: DRF's would turn the number ``5`` into a uuid."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class InputSerializer(serializers.Serializer):
    """Base of request-body and query serializers: ``validated(data)`` returns clean data or raises a 400.

    A query parameter given twice (``?limit=5&limit=500``) is refused rather than read as its last value:
    a proxy, cache or client library that reads the first one would see a different request. An empty
    one (``?limit=``) is refused too, instead of meaning "the default" as it would in an HTML form.
    """

    @classmethod
    def validated(cls, data: Any) -> dict[str, Any]:
        serializer = cls(data=data)
        if isinstance(data, QueryDict):
            check_query(data, serializer.fields)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @classmethod
    def prepared(cls) -> PreparedInput:
        """One instance of this serializer for every request body (see ``PreparedInput``)."""
        return PreparedInput(cls)


class PreparedInput:
    """One bound instance of an input serializer, reused for every request body: ``validated`` answers what
    ``InputSerializer.validated`` answers, without DRF's copy of every declared field per instance (a twelfth of a
    post's CPU time, docs/benchmarks.md).

    Valid data (nearly every request) goes through the one instance's ``run_validation``, which is what
    ``is_valid`` runs; invalid data is validated again by ``InputSerializer.validated``, so an error is DRF's
    own, byte for byte. The instance keeps nothing of a request, so threads share it: a serializer prepared
    this way must not read ``initial_data`` in its checks (a test holds each prepared serializer to that).
    """

    def __init__(self, serializer_class: type[InputSerializer]) -> None:
        self.serializer_class = serializer_class
        self.serializer = serializer_class()
        _ = self.serializer.fields  # bound once, here, not by the first two threads at once

    def validated(self, data: Any) -> dict[str, Any]:
        if isinstance(data, QueryDict):
            return self.serializer_class.validated(data)  # a query's own rules (a parameter given twice)
        try:
            return dict(self.serializer.run_validation(data))
        except Exception:  # the declared path raises the exact error (or, should it not, answers)
            return self.serializer_class.validated(data)


def check_query(query: QueryDict, names: Iterable[str], *, allow_empty: bool = False) -> None:
    """Raise ``InvalidInput`` (400) if one of ``names`` is given twice, or empty unless ``allow_empty``.

    For the views that read query parameters without a serializer (the stream, contract §5).
    """
    found = {name: _query_problem(query.getlist(name), allow_empty=allow_empty) for name in names}
    problems = {name: [problem] for name, problem in found.items() if problem}
    if problems:
        raise InvalidInput(problems)


def _query_problem(values: list[str], *, allow_empty: bool) -> str | None:
    if len(values) > 1:
        return "Give this parameter once."
    if values == [""] and not allow_empty:
        return "Give this parameter a value, or leave it out."
    return None
