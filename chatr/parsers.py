"""The JSON request parser of both API surfaces: strict about what no field could ever accept.

Refused here, once for every endpoint, rather than field by field:

- nesting deeper than ``CHATR_MAX_JSON_DEPTH`` (our bodies are flat objects; Python's parser would
  otherwise recurse until ``RecursionError`` on a 16 KiB body of ``[[[[…``);
- a key given twice (``{"name": "a", "name": "b"}``): parsers disagree on which one wins, and a
  proxy or client library that reads the other one sees a different request;
- NUL characters and unpaired UTF-16 surrogates in any string, keys and ignored fields included:
  PostgreSQL cannot store NUL, UTF-8 cannot encode a lone surrogate, and no valid value holds either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from chatr.errors import InvalidInput, InvalidJson


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        return parse_json(stream.read())


def parse_json(raw: bytes) -> Any:
    """The body's JSON value, or the error in the contract's shape: what ``StrictJSONParser`` and the request
    table's commands (``chatr.commands``) both parse with."""
    # Always UTF-8: the edge (chatr.body_limit) already refused any other charset, and a charset
    # must never choose a codec (the registry holds decompressors).
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except RecursionError as error:
        raise _too_deep() from error
    except ValueError as error:  # bad JSON, bad UTF-8
        raise InvalidJson(_reason(error)) from error
    check_value(data)
    return data


def check_value(value: Any, *, path: str = "", depth: int = 1) -> None:
    """Raise for nesting over the limit, or a NUL or lone surrogate in any key or string."""
    if depth > settings.CHATR_MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            _check_text(key, child)
            check_value(item, path=child, depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, path=f"{path}.{index}" if path else str(index), depth=depth + 1)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise InvalidInput({_printable(path): ["Null characters are not allowed."]})
    # A str holds a lone surrogate exactly when strict UTF-8 cannot encode it (json.loads joins escaped pairs):
    # one pass in C instead of one in Python per character.
    if not text.isascii() and not _encodes(text):
        raise InvalidInput({_printable(path): ["Unpaired surrogate characters are not allowed."]})


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: str) -> str:
    """The path as it can be echoed back: offending characters in keys become escapes."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00") or "non_field_errors"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidJson(f"The request body gives the key {_printable(key)!r} more than once.")
        result[key] = value
    return result


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _too_deep() -> InvalidJson:
    return InvalidJson(f"The request body is nested deeper than {settings.CHATR_MAX_JSON_DEPTH} levels.")


def _reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "The request body is not valid UTF-8."
    return "The request body is not valid JSON."
