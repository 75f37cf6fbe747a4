"""``python manage.py moderation_rules export > rules.json`` and ``… import rules.json`` (contract §13)."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from safety import rules_file, services


class Command(BaseCommand):
    help = "Export the house rules as JSON, or replace them all from a JSON file (all or nothing)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        commands.add_parser("export", help="Print the rules and the rooms' slow modes as JSON.")
        importing = commands.add_parser("import", help="Replace the rules with those of FILE, or change nothing.")
        importing.add_argument("file", help="The JSON file ('-' reads standard input).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self.stdout.write(json.dumps(rules_file.export(), ensure_ascii=False, indent=2))
            return
        path = options["file"]
        try:
            text = (options.get("stdin") or sys.stdin).read() if path == "-" else Path(path).read_text(encoding="utf-8")
            document = json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from None
        try:
            rules, rooms = rules_file.parse(document)
        except rules_file.InvalidRulesFile as invalid:
            problems = "\n  ".join(invalid.problems)
            raise CommandError(f"Nothing was changed; the file has problems:\n  {problems}") from None
        services.replace_rule_set(rules_in_order=rules, room_slow_modes=rooms)
        self.stdout.write(f"Imported {len(rules)} rule(s) and {len(rooms)} room slow mode(s).")
