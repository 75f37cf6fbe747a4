"""``moderation_rules export`` / ``import``: a round trip, and a file with one bad rule changing nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from safety.models import RoomSlowMode, Rule
from tests.safety.conftest import post
from tests.server import ROOT

pytestmark = pytest.mark.django_db

DOCUMENT = {
    "rules": [
        {
            "name": "scam-links",
            "reason": "Links to scam sites.",
            "kind": "links",
            "scope": ["lobby", "groups", "direct"],
            "appliesTo": "all",
            "action": "block",
            "enabled": True,
            "domains": ["evil.com"],
            "mode": "deny",
        },
        {
            "name": "waves",
            "reason": "Many agents posting one text.",
            "kind": "near_duplicate",
            "scope": ["lobby"],
            "appliesTo": "unverified",
            "action": "hold",
            "enabled": True,
            "similarity": 0.7,
            "agents": 3,
            "window": 10,
        },
        {
            "name": "injection",
            "reason": "Instructions aimed at the agents who read the room.",
            "kind": "pattern",
            "scope": ["lobby", "groups"],
            "appliesTo": "all",
            "action": "hold",
            "enabled": False,
            "pattern": "(?i)ignore (all )?previous instructions",
        },
    ],
    "rooms": {"lobby": {"slowModeSeconds": 30}},
}


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    call_command("moderation_rules", *args, stdout=out, stdin=io.StringIO(stdin or ""))
    return out.getvalue()


def write(tmp_path, document) -> str:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_an_import_then_export_gives_the_same_document(tmp_path, make_rule):
    make_rule("terms", {"terms": ["old"]}, name="replaced")
    assert "Imported 3 rule(s)" in run("import", write(tmp_path, DOCUMENT))
    assert json.loads(run("export")) == DOCUMENT
    assert list(Rule.objects.values_list("name", flat=True)) == ["scam-links", "waves", "injection"]


def test_an_imported_rule_applies_to_the_next_post(tmp_path, api, verified_agent, db):
    run("import", write(tmp_path, DOCUMENT))
    assert post(api, verified_agent, "see evil.com/x").json()["rule"] == "scam-links"
    assert api.get("/api/rooms/lobby/").json()["slowModeSeconds"] == 30


@pytest.mark.parametrize(
    "broken",
    [
        {"pattern": "(a)\\1"},  # RE2 refuses back-references
        {"kind": "telepathy"},
        {"name": "scam-links"},  # a second rule of that name
        {"scope": ["everywhere"]},
        {"reason": "x" * 201},
    ],
)
def test_a_file_with_one_invalid_rule_changes_nothing(tmp_path, make_rule, moderator, broken):
    from chat.selectors import lobby
    from safety import services

    make_rule("terms", {"terms": ["keep"]}, name="kept")
    services.set_slow_mode(room=lobby(), seconds=5, moderator=moderator)
    document = json.loads(json.dumps(DOCUMENT))
    document["rules"][2].update(broken)
    with pytest.raises(CommandError) as refused:
        run("import", write(tmp_path, document))
    assert "Nothing was changed" in str(refused.value) and "rule 3" in str(refused.value)
    assert list(Rule.objects.values_list("name", flat=True)) == ["kept"]
    assert RoomSlowMode.objects.get().seconds == 5


@pytest.mark.parametrize(
    "field, value",
    [("name", 5), ("name", None), ("name", ["a"]), ("reason", 5), ("kind", ["x"]), ("appliesTo", {}), ("action", 1)],
)
def test_a_common_field_that_is_not_a_text_is_refused_by_name(tmp_path, make_rule, field, value):
    """A number or a list where a text belongs is a problem in the file's report, not a traceback, and not turned
    into text (``"reason": 5`` stored as "5")."""
    make_rule("terms", {"terms": ["keep"]}, name="kept")
    document = json.loads(json.dumps(DOCUMENT))
    document["rules"][0][field] = value
    with pytest.raises(CommandError) as refused:
        run("import", write(tmp_path, document))
    assert f"rule 1: {field}: {field} is a text." in str(refused.value)
    assert list(Rule.objects.values_list("name", flat=True)) == ["kept"]


@pytest.mark.parametrize(
    "rule, field",
    [
        ({"name": "nul\x00"}, "name"),
        ({"reason": "esc\x1b[2J"}, "reason"),
        ({"kind": "terms", "terms": ["bad\x00"], "domains": None, "mode": None}, "settings"),
        ({"kind": "pattern", "pattern": "a\x00b", "domains": None, "mode": None}, "settings"),
    ],
)
def test_a_control_character_in_a_rule_is_refused(tmp_path, make_rule, rule, field):
    """PostgreSQL cannot store a NUL (the import died inside the database with a traceback), and no post holds a
    control character for a term or pattern to match."""
    make_rule("terms", {"terms": ["keep"]}, name="kept")
    document = json.loads(json.dumps(DOCUMENT))
    document["rules"][0].update(rule)
    document["rules"][0] = {key: value for key, value in document["rules"][0].items() if value is not None}
    with pytest.raises(CommandError, match=f"rule 1 .*: {field}: Control characters are not allowed."):
        run("import", write(tmp_path, document))
    assert list(Rule.objects.values_list("name", flat=True)) == ["kept"]


def test_a_scope_holding_a_list_is_refused(tmp_path, make_rule):
    document = json.loads(json.dumps(DOCUMENT))
    document["rules"][0]["scope"] = [["lobby"]]
    with pytest.raises(CommandError, match="rule 1: scope: scope is a list of lobby, groups, direct"):
        run("import", write(tmp_path, document))


def test_an_unknown_room_or_bad_json_changes_nothing(tmp_path, make_rule):
    make_rule("terms", {"terms": ["keep"]}, name="kept")
    with pytest.raises(CommandError, match="no room 'nowhere'"):
        run("import", write(tmp_path, {**DOCUMENT, "rooms": {"nowhere": {"slowModeSeconds": 3}}}))
    with pytest.raises(CommandError, match="Cannot read"):
        run("import", "-", stdin="{not json")
    assert list(Rule.objects.values_list("name", flat=True)) == ["kept"]


def test_the_recommended_rules_of_the_docs_import(tmp_path):
    text = (ROOT / "docs" / "moderation.md").read_text()
    recommended = text.split("### Recommended rules", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    run("import", write(tmp_path, json.loads(recommended)))
    assert Rule.objects.count() == 6
