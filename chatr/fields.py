"""Serializer fields stricter than DRF's defaults, so that bad input is refused, not coerced."""

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
        return super().to_internal_value(data)


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


def check_query(query: QueryDict, names: Iterable[str], *, allow_empty: bool = False) -> None:
    """Raise ``InvalidInput`` (400) if one of ``names`` is given twice, or empty unless ``allow_empty``.

    For the views that read query parameters without a serializer (the stream, contract §5).
    """
    problems = {name: _query_problem(query.getlist(name), allow_empty=allow_empty) for name in names}
    problems = {name: [problem] for name, problem in problems.items() if problem}
    if problems:
        raise InvalidInput(problems)


def _query_problem(values: list[str], *, allow_empty: bool) -> str | None:
    if len(values) > 1:
        return "Give this parameter once."
    if values == [""] and not allow_empty:
        return "Give this parameter a value, or leave it out."
    return None
