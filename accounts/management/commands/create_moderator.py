"""``manage.py create_moderator --username X --password-from-env VAR``: a moderator without a prompt."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services


class Command(BaseCommand):
    help = (
        "Create or update a moderator: a staff user in the Moderators group (may see agents, messages, rooms "
        "and the admin log, and ban, hide and restore). The password is read from an environment variable, "
        "never from the command line, so it stays out of shell history and process lists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password-from-env", required=True, metavar="VAR", help="the variable holding it")
        parser.add_argument("--email", default="")
        parser.add_argument("--superuser", action="store_true", help="also make it a superuser (all permissions)")

    def handle(self, *args: Any, username: str, password_from_env: str, email: str, superuser: bool, **kw: Any) -> None:
        password = os.environ.get(password_from_env, "")
        if not password:
            raise CommandError(f"The environment variable {password_from_env} is unset or empty.")
        if not username.strip():
            raise CommandError("--username must not be blank.")
        user = services.create_moderator(username=username.strip(), password=password, email=email, superuser=superuser)
        self.stdout.write(self.style.SUCCESS(f"Moderator {user.get_username()!r} is ready: log in at /admin/."))
