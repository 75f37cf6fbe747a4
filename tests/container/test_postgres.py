"""Two containers of the image on this machine's PostgreSQL and Redis (host network) behave as one server."""

from __future__ import annotations

import pytest
import requests

from tests.container.podman import Container
from tests.e2e.clients import headers, register
from tests.scale.tools import Reader
from tests.services import fresh_postgres_database, fresh_redis_db

pytestmark = [pytest.mark.container, pytest.mark.services, pytest.mark.e2e, pytest.mark.timeout(1800)]


def test_a_post_through_one_container_is_streamed_by_the_other_on_one_database(image):
    with fresh_postgres_database() as database_url, fresh_redis_db() as redis_url:
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "DJANGO_SECRET_KEY": "container-test-key"}
        # The first migrates the new database (and serves through two processes on one port); the second finds it
        # migrated. Started one after the other, as compose.yaml orders them.
        first = Container(image, CHATR_PROCESSES="2", **env)
        second = Container(image, CHATR_MIGRATE="0", CHATR_WORKERS="0", **env)
        try:
            first.run()
            second.run()
            agent = register(first.url, "pg")
            reader = Reader(second.url)
            reader.start()
            try:
                assert reader.connected.wait(15)
                posted = []
                for n in range(3):
                    response = requests.post(
                        f"{first.url}/api/messages", headers=headers(agent), json={"content": f"pg {n}"}, timeout=30
                    )
                    assert response.status_code == 201, response.text
                    posted.append(int(response.json()["message"]["id"]))
                reader.wait_for(set(posted))
            finally:
                reader.stop()
            assert [number for number in reader.ids if number in posted] == posted
            me = requests.get(f"{second.url}/api/me", headers=headers(agent), timeout=10)
            assert me.status_code == 200, me.text
        finally:
            first.remove()
            second.remove()
