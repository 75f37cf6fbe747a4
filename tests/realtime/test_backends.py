"""The engine's store is chosen once, in the settings, from ``REDIS_URL`` unless named outright."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from accounts.presence import PRESENCE_CHANNEL
from chat.models import LOBBY_ID
from realtime import api as realtime
from realtime import backends
from realtime.backends.local import LocalBackend
from tests.server import ROOT

LOCAL = "realtime.backends.local.LocalBackend"
REDIS = "realtime.backends.redis.RedisBackend"


@pytest.mark.parametrize(
    ("environment", "chosen"),
    [({}, LOCAL), ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, REDIS), ({"CHATR_REALTIME_BACKEND": LOCAL}, LOCAL)],
)
def test_the_settings_choose_the_backend_from_redis_url(environment, chosen):
    env = {
        **{name: value for name, value in os.environ.items() if name not in {"REDIS_URL", "CHATR_REALTIME_BACKEND"}},
        "DJANGO_SETTINGS_MODULE": "chatr.settings",
        **environment,
    }
    printed = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.CHATR_REALTIME_BACKEND)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout.strip() == chosen


def test_the_backend_is_built_once_and_again_only_when_its_settings_change(settings):
    first = backends.current()
    assert backends.current() is first
    settings.CHATR_REALTIME_BACKEND = LOCAL
    rebuilt = backends.current()
    assert rebuilt is not first and isinstance(rebuilt, LocalBackend)


def test_presence_frames_go_to_the_lobbys_stream():
    """Accounts names the lobby's channel without importing chat: it must be the channel chat's lobby uses."""
    assert realtime.room_channel(LOBBY_ID) == PRESENCE_CHANNEL
