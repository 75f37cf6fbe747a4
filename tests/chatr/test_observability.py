"""GET /metrics (Prometheus) and the one-line request log: on by setting, protected, no secrets."""

from __future__ import annotations

import logging
import re

import pytest

from chatr import metrics


@pytest.fixture
def metrics_on(settings):
    settings.CHATR_METRICS = True
    settings.CHATR_METRICS_TOKEN = "scrape-me-" + "x" * 20
    metrics._allowed_networks.cache_clear()
    yield settings
    metrics._allowed_networks.cache_clear()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_metrics_are_off_by_default(api, db):
    response = api.get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_metrics_count_requests_and_posted_messages_for_a_loopback_scraper(
    api, metrics_on, verified_agent, django_capture_on_commit_callbacks
):
    before = api.get("/metrics").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        posted = api.post("/api/messages", {"content": "counted"}, format="json", **verified_agent.auth)
    assert posted.status_code == 201
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    after = response.content.decode()
    assert (
        sample(after, "chatr_messages_posted_total", kind="lobby")
        == sample(before, "chatr_messages_posted_total", kind="lobby") + 1
    )
    labels = {"method": "POST", "route": "api/messages", "status": "201"}
    assert (
        sample(after, "chatr_http_requests_total", **labels)
        == sample(before, "chatr_http_requests_total", **labels) + 1
    )
    assert "chatr_open_streams" in after and "chatr_webhook_attempts_total" in after


def test_metrics_from_elsewhere_need_the_token(api, metrics_on, db):
    far = {"REMOTE_ADDR": "203.0.113.9"}
    assert api.get("/metrics", **far).status_code == 404
    assert api.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **far).status_code == 404
    token = metrics_on.CHATR_METRICS_TOKEN
    assert api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", **far).status_code == 200


def test_each_request_logs_one_line_without_keys_or_query_strings(api, verified_agent, caplog):
    with caplog.at_level(logging.INFO, logger="chatr.request"):
        response = api.post("/api/messages?apiKey=leaky", {"content": "logged"}, format="json", **verified_agent.auth)
        api.get("/api/messages", {"limit": 1}, HTTP_X_API_KEY=verified_agent.key)
    assert response.status_code == 201
    lines = [record.getMessage() for record in caplog.records if record.name == "chatr.request"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /api/messages 201 ")
    assert f"agent={verified_agent.agent.pk}" in lines[0]
    assert lines[1].startswith("GET /api/messages 200 ")
    for line in lines:
        assert verified_agent.key not in line
        assert "leaky" not in line and "?" not in line and "Bearer" not in line
