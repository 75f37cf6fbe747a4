"""Rules as code: the rule set and the rooms' slow modes as one JSON document (contract §13).

```json
{"rules": [{"name": "no-scam-links", "reason": "…", "kind": "links", "scope": ["lobby", "groups"],
            "appliesTo": "all", "action": "block", "enabled": true, "domains": ["evil.com"], "mode": "deny"}],
 "rooms": {"lobby": {"slowModeSeconds": 30}}}
```

A rule's kind-specific settings sit beside its common fields; the list's order is the set's order.
``parse`` checks the whole document and reports every problem, so an import changes nothing unless
every rule in it is valid.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from chat.models import Room
from safety.models import MAX_SLOW_MODE_SECONDS, Rule, Scope
from safety.services import validate_rule

COMMON = ("name", "reason", "kind", "scope", "appliesTo", "action", "enabled")
# The common fields that are texts, with their defaults: a number or a list there is refused, not turned into text.
TEXT_FIELDS: dict[str, Any] = {
    "name": None,
    "reason": None,
    "kind": None,
    "appliesTo": Rule.AppliesTo.ALL.value,
    "action": Rule.Action.BLOCK.value,
}


def export() -> dict[str, Any]:
    from safety.models import RoomSlowMode

    rules = [
        {
            "name": rule.name,
            "reason": rule.reason,
            "kind": rule.kind,
            "scope": rule.scope,
            "appliesTo": rule.applies_to,
            "action": rule.action,
            "enabled": rule.enabled,
            **rule.settings,
        }
        for rule in Rule.objects.order_by("position", "id")
    ]
    rooms = {
        row.room_id: {"slowModeSeconds": row.seconds}
        for row in RoomSlowMode.objects.filter(seconds__gt=0).order_by("room_id")
    }
    return {"rules": rules, "rooms": rooms}


class InvalidRulesFile(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse(document: Any) -> tuple[list[Rule], dict[str, int]]:
    """The rules (unsaved, in order) and the rooms' slow modes of ``document``; raises ``InvalidRulesFile``."""
    problems: list[str] = []
    if not isinstance(document, dict) or not isinstance(document.get("rules", []), list):
        raise InvalidRulesFile(['The file is a JSON object: {"rules": [...], "rooms": {...}}.'])
    unknown = sorted(set(document) - {"rules", "rooms"})
    if unknown:
        problems.append(f"Unknown top-level key(s): {', '.join(unknown)}.")
    rules: list[Rule] = []
    names: set[str] = set()
    for position, item in enumerate(document.get("rules", [])):
        label = f"rule {position + 1}"
        try:
            rule = _rule(item, position)
            label = f"rule {position + 1} ({rule.name})"
            if rule.name.casefold() in names:
                raise ValidationError({"name": ["Another rule in the file has this name."]})
            names.add(rule.name.casefold())
            validate_rule(rule)
            rules.append(rule)
        except ValidationError as error:
            details = error.message_dict if hasattr(error, "error_dict") else {"rule": error.messages}
            problems += [f"{label}: {field}: {message}" for field, messages in details.items() for message in messages]
    rooms = _rooms(document.get("rooms", {}), problems)
    if problems:
        raise InvalidRulesFile(problems)
    return rules, rooms


def _rule(item: Any, position: int) -> Rule:
    if not isinstance(item, dict):
        raise ValidationError("A rule is a JSON object.")
    missing = [key for key in ("name", "reason", "kind") if key not in item]
    if missing:
        raise ValidationError({key: ["This field is required."] for key in missing})
    texts = {key: item.get(key, default) for key, default in TEXT_FIELDS.items()}
    not_texts = [key for key, value in texts.items() if not isinstance(value, str)]
    if not_texts:
        raise ValidationError({key: [f"{key} is a text."] for key in not_texts})
    scope = item.get("scope", ["lobby", "groups"])
    if not isinstance(scope, list) or not all(isinstance(one, str) and one in Scope.values for one in scope):
        raise ValidationError({"scope": [f"scope is a list of {', '.join(Scope.values)}."]})
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValidationError({"enabled": ["enabled is true or false."]})
    return Rule(
        name=texts["name"],
        reason=texts["reason"],
        kind=texts["kind"],
        in_lobby=Scope.LOBBY in scope,
        in_groups=Scope.GROUPS in scope,
        in_direct=Scope.DIRECT in scope,
        applies_to=texts["appliesTo"],
        action=texts["action"],
        enabled=enabled,
        position=position,
        settings={key: value for key, value in item.items() if key not in COMMON},
    )


def _rooms(rooms: Any, problems: list[str]) -> dict[str, int]:
    if not isinstance(rooms, dict):
        problems.append('rooms is an object: {"<room id>": {"slowModeSeconds": n}}.')
        return {}
    found: dict[str, int] = {}
    existing = set(Room.objects.filter(pk__in=list(rooms)).values_list("pk", flat=True))
    for room_id, settings in rooms.items():
        seconds = settings.get("slowModeSeconds") if isinstance(settings, dict) else None
        if room_id not in existing:
            problems.append(f"rooms: no room {room_id!r}.")
        elif isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= MAX_SLOW_MODE_SECONDS:
            problems.append(f"rooms: {room_id}: slowModeSeconds is a whole number from 0 to {MAX_SLOW_MODE_SECONDS}.")
        else:
            found[room_id] = seconds
    return found
