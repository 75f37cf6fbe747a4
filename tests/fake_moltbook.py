"""A fake Moltbook: a real HTTP server speaking the parts of Moltbook's public API chatr uses.

It serves ``GET /agents/profile?name=`` and ``GET /posts?sort=new&limit=`` with Moltbook's response
shapes (contract §6), holds claimed and unclaimed accounts with posts and comments, and has switches
that make it slow, fail with a status, answer garbled JSON, or leave ``recentPosts`` out of profiles.

In tests: ``with FakeMoltbook() as fake: fake.add_agent("molty"); ...; fake.url``.
By hand, for a local demo (see docs/verification.md)::

    .venv/bin/python -m tests.fake_moltbook --port 9100 --seed

and drive it with ``POST /_fake/agents``, ``/_fake/posts``, ``/_fake/comments``, ``/_fake/switches``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_PREFIX = "/api/v1"


def _now() -> str:
    moment = datetime.now(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


@dataclass
class FakeAgent:
    name: str
    is_claimed: bool
    x_handle: str | None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=_now)


@dataclass
class FakePost:
    id: str
    author: str | None  # None: the author's account is gone, Moltbook answers "author": null
    title: str
    content: str
    submolt: str
    created_at: str
    author_style: str  # "snake" or "camel": the feed spells author objects both ways


@dataclass
class FakeComment:
    id: str
    author: str
    content: str
    post_id: str
    created_at: str


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeMoltbook:
    """State and switches of the fake; ``start()`` serves it on a free port of 127.0.0.1."""

    def __init__(self, *, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self.agents: dict[str, FakeAgent] = {}
        self.posts: list[FakePost] = []  # newest last
        self.comments: list[FakeComment] = []
        self.requests: list[Request] = []
        # Switches.
        self.slow_seconds = 0.0  # sleep this long before answering
        self.fail_status: int | None = None  # answer every API request with this status
        self.fail_path: str | None = None  # ...or only requests to this path ("/posts")
        self.garbled = False  # answer 200 with a body that is not JSON
        self.profile_posts = "listed"  # "listed", "missing" (no recentPosts key), "null" or "empty"
        self.canned: dict[str, tuple[int, Any]] = {}  # route -> (status, JSON body or raw bytes)
        self.verbose = False  # log requests (the demo)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The API base, what ``MOLTBOOK_API_URL`` is set to."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    def start(self) -> FakeMoltbook:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-moltbook", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes slow handlers
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeMoltbook:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def refused_url() -> str:
        """An API base on a port nothing listens on: connections are refused."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}{API_PREFIX}"

    # --- content -----------------------------------------------------------------------------
    def add_agent(self, name: str, *, claimed: bool = True, x_handle: str | None = None) -> FakeAgent:
        with self._lock:
            agent = FakeAgent(name=name, is_claimed=claimed, x_handle=x_handle if claimed else None)
            self.agents[name.lower()] = agent
            return agent

    def add_post(
        self,
        author: str | None,
        *,
        content: str = "",
        title: str = "Hello Moltbook",
        submolt: str = "general",
        author_style: str = "snake",
    ) -> FakePost:
        with self._lock:
            post = FakePost(
                id=str(uuid.uuid4()),
                author=self.agents[author.lower()].name if author else None,
                title=title,
                content=content,
                submolt=submolt,
                created_at=_now(),
                author_style=author_style,
            )
            self.posts.append(post)
            return post

    def add_comment(self, author: str, *, content: str, post_id: str | None = None) -> FakeComment:
        with self._lock:
            comment = FakeComment(
                id=str(uuid.uuid4()),
                author=self.agents[author.lower()].name,
                content=content,
                post_id=post_id or (self.posts[-1].id if self.posts else str(uuid.uuid4())),
                created_at=_now(),
            )
            self.comments.append(comment)
            return comment

    def api_requests(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(API_PREFIX) and (path is None or r.path == path)]

    # --- responses ---------------------------------------------------------------------------
    def respond(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, bytes]:
        """Status and body for one request (the HTTP handler only moves bytes)."""
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        if not path.startswith(API_PREFIX):
            return _json(404, {"success": False, "error": "Not found"})
        if self.slow_seconds:
            self._stopping.wait(self.slow_seconds)
        route = path[len(API_PREFIX) :]
        if self.fail_status and (self.fail_path is None or self.fail_path == route):
            return _json(self.fail_status, {"success": False, "error": "Internal server error"})
        if self.garbled:
            return 200, b'{"success": true, "agent": {"name": "molt'
        if route in self.canned:
            status, canned = self.canned[route]
            return (status, canned) if isinstance(canned, bytes) else _json(status, canned)
        with self._lock:
            if method == "GET" and route == "/agents/profile":
                return self._profile(query.get("name", ""))
            if method == "GET" and route == "/posts":
                limit = query.get("limit", "25")
                return self._feed(limit=int(limit) if limit.isdigit() else 25)
        return _json(404, {"success": False, "error": "Not found"})

    def _profile(self, name: str) -> tuple[int, bytes]:
        agent = self.agents.get(name.lower())
        if agent is None:
            return _json(404, {"success": False, "error": "Bot not found"})
        own_posts = [post for post in reversed(self.posts) if post.author == agent.name][:10]
        own_comments = [comment for comment in reversed(self.comments) if comment.author == agent.name][:10]
        body: dict[str, Any] = {
            "success": True,
            "agent": {
                "id": agent.id,
                "name": agent.name,
                "description": f"{agent.name}, a molty",
                "karma": 42,
                "created_at": agent.created_at,
                "last_active": _now(),
                "is_active": True,
                "is_claimed": agent.is_claimed,
                "follower_count": 3,
                "following_count": 1,
                "avatar_url": None,
                "owner": (
                    {
                        "x_handle": agent.x_handle,
                        "x_name": agent.x_handle,
                        "x_avatar": None,
                        "x_bio": "",
                        "x_follower_count": 10,
                        "x_following_count": 5,
                        "x_verified": False,
                    }
                    if agent.is_claimed
                    else None
                ),
            },
            "recentComments": [
                {
                    "id": comment.id,
                    "content": comment.content,
                    "upvotes": 0,
                    "created_at": comment.created_at,
                    "post": {"id": comment.post_id, "title": "A post", "submolt": {"name": "general"}},
                }
                for comment in own_comments
            ],
        }
        listed = [
            {
                "id": post.id,
                "title": post.title,
                "content": post.content,
                "upvotes": 0,
                "downvotes": 0,
                "comment_count": 0,
                "created_at": post.created_at,
                "submolt": {"name": post.submolt},
            }
            for post in own_posts
        ]
        if self.profile_posts != "missing":
            body["recentPosts"] = {"listed": listed, "null": None, "empty": []}[self.profile_posts]
        return _json(200, body)

    def _feed(self, *, limit: int) -> tuple[int, bytes]:
        newest = list(reversed(self.posts))[: max(1, min(limit, 100))]
        return _json(
            200,
            {
                "success": True,
                "posts": [self._feed_post(post) for post in newest],
                "count": len(newest),
                "has_more": len(self.posts) > len(newest),
                "next_offset": len(newest),
            },
        )

    def _feed_post(self, post: FakePost) -> dict[str, Any]:
        author = None
        if post.author is not None:
            agent = self.agents[post.author.lower()]
            if post.author_style == "camel":
                author = {"id": agent.id, "name": agent.name, "avatarUrl": None, "isClaimed": agent.is_claimed}
            else:
                author = {"id": agent.id, "name": agent.name, "avatar_url": None, "is_claimed": agent.is_claimed}
        return {
            "id": post.id,
            "title": post.title,
            "content": post.content,
            "url": None,
            "upvotes": 0,
            "downvotes": 0,
            "comment_count": 0,
            "created_at": post.created_at,
            "author": author,
            "submolt": {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, post.submolt)), "name": post.submolt},
        }

    def _control(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        """The demo's remote control: create accounts, posts and comments, flip switches."""
        body = body if isinstance(body, dict) else {}
        try:
            if method == "GET" and path == "/_fake/state":
                return _json(200, self.describe())
            if method != "POST":
                return _json(405, {"success": False, "error": "POST only"})
            if path == "/_fake/agents":
                agent = self.add_agent(body["name"], claimed=body.get("claimed", True), x_handle=body.get("xHandle"))
                return _json(201, {"success": True, "agent": agent.name})
            if path == "/_fake/posts":
                post = self.add_post(
                    body["author"],
                    title=body.get("title", "Hello Moltbook"),
                    content=body.get("content", ""),
                    author_style=body.get("authorStyle", "snake"),
                )
                return _json(201, {"success": True, "post": post.id})
            if path == "/_fake/comments":
                comment = self.add_comment(body["author"], content=body.get("content", ""))
                return _json(201, {"success": True, "comment": comment.id})
            if path == "/_fake/switches":
                self.slow_seconds = float(body.get("slowSeconds", self.slow_seconds))
                self.fail_status = body.get("failStatus", self.fail_status)
                self.garbled = bool(body.get("garbled", self.garbled))
                self.profile_posts = body.get("profilePosts", self.profile_posts)
                return _json(200, self.describe())
        except (KeyError, TypeError, ValueError) as error:
            return _json(400, {"success": False, "error": f"bad control request: {error!r}"})
        return _json(404, {"success": False, "error": "Not found"})

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "agents": [
                    {"name": a.name, "claimed": a.is_claimed, "xHandle": a.x_handle} for a in self.agents.values()
                ],
                "posts": [{"author": p.author, "title": p.title, "content": p.content} for p in self.posts],
                "comments": [{"author": c.author, "content": c.content} for c in self.comments],
                "switches": {
                    "slowSeconds": self.slow_seconds,
                    "failStatus": self.fail_status,
                    "garbled": self.garbled,
                    "profilePosts": self.profile_posts,
                },
            }


def _json(status: int, body: Any) -> tuple[int, bytes]:
    return status, json.dumps(body).encode()


def _handler_for(fake: FakeMoltbook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            with fake._lock:
                fake.requests.append(Request(method, url.path, query, {k.lower(): v for k, v in self.headers.items()}))
            status, payload = fake.respond(method, url.path, query, body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (a timeout test): nothing to tell it
                pass

        def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
            if fake.verbose:
                super().log_message(format, *args)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Moltbook API for local chatr demos.")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--seed", action="store_true", help="create demo_molty (claimed) and shy_molty (unclaimed)")
    args = parser.parse_args()
    fake = FakeMoltbook(port=args.port)
    fake.verbose = True
    if args.seed:
        fake.add_agent("demo_molty", claimed=True, x_handle="demo_owner")
        fake.add_agent("shy_molty", claimed=False)
    print(f"Fake Moltbook on {fake.url}  (set MOLTBOOK_API_URL={fake.url})", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()


if __name__ == "__main__":
    main()
