"""The human pages rendered in-process: history, escaping, profile, /skill.md, the policy header."""

import pytest
from django.core.management import call_command

from chat import selectors, services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _many_messages_allowed(settings):
    settings.CHATR_RATES = {**settings.CHATR_RATES, "lobby_verified": "1000/m", "lobby_unverified": "1000/m"}


def say(who, content):
    return services.post_room_message(agent=who.agent, room=selectors.lobby(), content=content)


def test_the_lobby_renders_the_last_100_visible_messages_oldest_first(client, verified_agent, admin_user):
    messages = [say(verified_agent, f"message number {n}") for n in range(105)]
    services.hide_message(message=messages[-1], moderator=admin_user)
    html = client.get("/").content.decode()
    assert html.count('<li class="msg" data-id=') == 100
    assert "message number 3<" not in html
    assert html.index("message number 4<") < html.index("message number 103<")
    assert "message number 104" not in html


def test_markup_in_content_is_escaped(client, agent):
    say(agent, '<img src=x onerror=alert(1)> & <script>alert("x")</script>')
    html = client.get("/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and '<script>alert("x")' not in html


def test_links_are_anchors_only_for_verified_agents_and_only_http(client, verified_agent, agent):
    say(verified_agent, "see https://example.com/a?b=1&c=2. or javascript:alert(1)")
    html = client.get("/").content.decode()
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow ugc noopener">https://example.com/a?b=1&amp;c=2</a>.'
        in html
    )
    assert 'href="javascript' not in html
    assert 'href="https://x.com/lobster_owner"' in html


def test_every_html_page_carries_the_content_security_policy_and_json_does_not(client, verified_agent):
    for path in ["/", f"/agents/{verified_agent.agent.name}/", "/api/docs/"]:
        policy = client.get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "Content-Security-Policy" not in client.get("/api/messages")
    assert "Content-Security-Policy" not in client.get("/skill.md")


def test_the_lobby_page_needs_a_fixed_number_of_queries(client, make_agent, django_assert_max_num_queries):
    for n in range(10):
        say(make_agent(verified=True), f"hello {n}")
    with django_assert_max_num_queries(6):
        assert client.get("/").status_code == 200


def test_a_profile_shows_the_agent_and_an_unknown_or_banned_one_is_404(client, verified_agent, make_agent):
    say(verified_agent, "profile words")
    page = client.get(f"/agents/{verified_agent.agent.name.upper()}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "molt_lobster" in html and "profile words" in html and "Verified on Moltbook" in html
    assert client.get("/agents/nobody-here/").status_code == 404
    banned = make_agent("banned_one", is_banned=True)
    assert client.get(f"/agents/{banned.agent.name}/").status_code == 404


def test_skill_md_uses_the_request_host_or_chatr_public_url(client, settings):
    settings.ALLOWED_HOSTS = ["chat.example.org", "testserver"]
    response = client.get("/skill.md", HTTP_HOST="chat.example.org", secure=True)
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert "curl -s -X POST https://chat.example.org/api/register" in response.content.decode()
    settings.CHATR_PUBLIC_URL = "https://agents.example.net"
    text = client.get("/skill.md").content.decode()
    assert 'API = "https://agents.example.net"' in text and "chat.example.org" not in text


def test_skill_md_names_the_fields_a_blocked_post_answers_with(client):
    """The house rules' paragraph links ``/api/rules`` (contract §13) and names the fields of a
    ``blocked_by_rule`` answer as they are sent (``rule`` and ``reason``; there is no ``name``)."""
    text = " ".join(client.get("/skill.md").content.decode().split())
    assert "/api/rules` lists the rules" in text
    assert "`403 blocked_by_rule` naming the rule in `rule`, with its `reason`" in text


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = (tmp_path / "schema.yaml").read_text()
    for path in [
        "/api/register:",
        "/api/messages:",
        "/api/agents/{id_or_name}:",
        "/api/verify/complete:",
        "/ai/groups:",
    ]:
        assert path in schema
    assert "ErrorResponse" in schema or "Error:" in schema


def test_the_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs
    assert "<script>" not in docs and "https://" not in docs


def test_groups_are_listed_and_a_group_page_is_the_room_page_on_its_own_stream(client, agent):
    group = services.create_group(owner=agent.agent, name="Tide pools", description="Shallow-water talk")
    services.post_room_message(agent=agent.agent, room=group, content="welcome to the pools")
    say(agent, "lobby only")
    listing = client.get("/groups/").content.decode()
    assert "Tide pools" in listing and f'href="/groups/{group.pk}/"' in listing and "1 member" in listing
    html = client.get(f"/groups/{group.pk}/").content.decode()
    assert "Shallow-water talk" in html and "welcome to the pools" in html and "lobby only" not in html
    assert f'data-stream-url="/api/stream?room={group.pk}"' in html
    assert client.get("/groups/no-such-group/").status_code == 404
