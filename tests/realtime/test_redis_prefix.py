"""Two deployments on one Redis server, each on a database of its own, never hear each other's frames.

Redis pub/sub ignores the database number, so the channel layer's names carry a prefix that names it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from tests.services import fresh_redis_db

pytestmark = pytest.mark.services


def configured_layer(redis_url: str) -> dict:
    """The CHANNEL_LAYERS config the settings build for ``redis_url`` (read in a fresh interpreter)."""
    code = (
        "from django.conf import settings; import json; print(json.dumps(settings.CHANNEL_LAYERS['default']['CONFIG']))"
    )
    env = {**os.environ, "REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "chatr.settings"}
    env.pop("CHATR_REDIS_CHANNEL_PREFIX", None)
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_deployments_on_two_databases_of_one_redis_do_not_hear_each_other():
    with fresh_redis_db() as first_url, fresh_redis_db() as second_url:
        first, second = configured_layer(first_url), configured_layer(second_url)
        assert first["prefix"] != second["prefix"]

        async def crosstalk() -> tuple[bool, bool]:
            one = RedisPubSubChannelLayer(hosts=first["hosts"], prefix=first["prefix"])
            two = RedisPubSubChannelLayer(hosts=second["hosts"], prefix=second["prefix"])
            listener_one, listener_two = await one.new_channel(), await two.new_channel()
            await one.group_add("room_lobby", listener_one)
            await two.group_add("room_lobby", listener_two)
            await asyncio.sleep(0.2)  # the subscriptions reach Redis
            await one.group_send("room_lobby", {"type": "chatr.frame", "frame": b"x"})
            heard_own = await asyncio.wait_for(one.receive(listener_one), 5) is not None
            try:
                await asyncio.wait_for(two.receive(listener_two), 1)
                heard_other = True
            except TimeoutError:
                heard_other = False
            await one.flush()
            await two.flush()
            return heard_own, heard_other

        # In a thread of its own: an event loop left running in this one (a browser test's) refuses asyncio.run.
        with ThreadPoolExecutor(1) as thread:
            assert thread.submit(asyncio.run, crosstalk()).result() == (True, False)
