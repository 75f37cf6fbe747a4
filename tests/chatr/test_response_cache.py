"""chatr.response_cache on its own, with a view that answers as Django's handler does: header names as set
("Content-Length", "Set-Cookie"), not lowercased. The cache must read them whatever their case."""

from __future__ import annotations

from chatr.response_cache import ResponseCache, Rule
from tests.loops import run


def _view(headers: list[tuple[bytes, bytes]], body: bytes = b"<p>hello</p>"):
    calls = []

    async def render(scope, receive, send):
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return render, calls


async def _version(scopes):
    return (1,)


def _ask(cache: ResponseCache, rule: Rule, render, extra: list[tuple[bytes, bytes]] = ()) -> list[dict]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": list(extra)}
    run(cache.serve(scope, None, send, rule, render))
    return sent


RULE = Rule(scopes=lambda query: ("room",), negotiates=False)
PAGE_HEADERS = [
    (b"Content-Type", b"text/html; charset=utf-8"),
    (b"Content-Length", b"12"),
    (b"X-Content-Type-Options", b"nosniff"),
]


def test_a_304_drops_the_bodys_headers_whatever_their_case():
    cache = ResponseCache({"/": RULE}, _version)
    render, calls = _view(PAGE_HEADERS)
    start = _ask(cache, RULE, render)[0]
    etag = dict(start["headers"])[b"etag"]
    start, body = _ask(cache, RULE, render, [(b"if-none-match", etag)])
    assert start["status"] == 304 and body["body"] == b""
    assert {name.lower() for name, _ in start["headers"]} & {b"content-length", b"content-type"} == set()
    assert calls == ["/"]  # the 304 came from the kept answer


def test_an_answer_that_sets_a_cookie_is_never_kept_whatever_the_headers_case():
    cache = ResponseCache({"/": RULE}, _version)
    render, calls = _view([*PAGE_HEADERS, (b"Set-Cookie", b"csrftoken=for-one-visitor; Path=/")])
    for _ in range(2):
        start = _ask(cache, RULE, render)[0]
        assert start["status"] == 200
    assert calls == ["/", "/"]  # each visitor's answer rendered for them, no one else's cookie served
