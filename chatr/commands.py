"""Commands: a message-creating POST answered from the event loop and one thread, without Django's handler or DRF's
per-request objects (issue 22). The request table names one per path (``chatr.routes``, a row's fourth element).

A POST to such a path, on the ``api`` chain, after the edge's refusals like every request:

1. on the event loop, ``CommandChain`` takes the request only if the view would take it the usual way: a JSON
   body of the one content type the parser reads, an ``Accept`` of the default rendering, no header it reads given
   twice or spelt with ``_``, a plain ``http``/``https`` request with no script prefix; anything else, with the
   body already read, falls through to Django's chain, which answers as always (415, 406, OPTIONS…);
2. still on the loop (pure CPU), it parses the body (``chatr.parsers.parse_json``, the parser's own function) and
   validates it (``Command.validate``: the view's prepared input serializer); an error is kept, not answered: the
   view authenticates before it reads the body, so the command raises it after authenticating, as the view would;
3. one hop to a request thread (the pipeline's pool): ``Command.run`` authenticates and calls the service, the same
   functions the view calls, inside Django's ``request_started``/``request_finished`` (database connections); a
   command that defines ``Command.run_all`` is queued instead for its ``Drain``, whose one thread answers every
   request queued so far with one ``run_all`` between one pair of those signals;
4. the answer: the body rendered by DRF's ``JSONRenderer``, an exception mapped by ``chatr.errors.error_answer``
   (DRF's exception handler's mapping), the headers the view's answer gets from DRF (``Content-Type``, ``Allow``)
   and from the API middleware (``X-Frame-Options``, the security headers), computed once per scheme by running
   those middleware over a stand-in answer; the edge adds the limits' headers, the log line and the metrics.

A differential test (``tests/chat/test_post_command.py``) sends one request matrix to a server with the commands
and to one without (``CHATR_COMMANDS=off``) and compares statuses, headers and bodies.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.conf import settings
from django.core import signals
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.log import log_response
from django.utils.module_loading import import_string
from rest_framework.renderers import JSONRenderer

from chatr import metrics
from chatr.edge import EXCHANGE
from chatr.errors import error_answer, handler500
from chatr.parsers import parse_json
from chatr.response_cache import default_rendering
from chatr.routes import matcher, parameters_of

logger = logging.getLogger("chatr.commands")
Scope = dict[str, Any]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
App = Callable[..., Awaitable[None]]
Header = tuple[bytes, bytes]
Outcome = tuple[int, dict[str, Any], dict[str, str] | None]
Answer = tuple[int, list[Header], bytes]

# The content types the JSON parser is chosen for without a doubt; any other spelling goes to DRF's negotiation.
_JSON = frozenset({b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8"})
_MARK = "X-Chatr-Command-Headers"  # where a stand-in answer's own headers go, among the block's


class Incoming:
    """A request as its command sees it: the headers it reads (lower-case names, latin-1 values as Django decodes
    them), the path's parameters (the row's ``<str:name>``, as the view's keyword arguments), the body's JSON value,
    and its validated data or the error parsing or validating raised."""

    __slots__ = ("agent_id", "context", "data", "error", "headers", "parameters", "path", "valid")

    def __init__(self, path: str, headers: dict[str, str], parameters: dict[str, str] | None = None) -> None:
        self.path = path
        self.headers = headers
        self.parameters = parameters or {}
        self.data: Any = None
        self.valid: Any = None
        self.error: Exception | None = None
        self.agent_id: object | None = None  # set by the command once it knows the agent: the log line names it
        self.context: contextvars.Context | None = None  # the request's context, where a drain runs its steps

    def within(self, step: Callable[..., Any], /, *args: Any) -> Any:
        """``step(*args)`` in the request's context (a drain runs several requests' steps on one thread)."""
        return step(*args) if self.context is None else self.context.run(step, *args)

    def validated(self) -> Any:
        """The validated data, or the parse or validation error, raised where the view would have raised it."""
        if self.error is not None:
            raise self.error
        return self.valid


class Command:
    """What an app declares for one path: the DRF view whose answers it gives, and its two steps."""

    view: type  # the DRF view of the path: its answers' headers (``Allow``) come from it
    reads: tuple[bytes, ...] = ()  # the request headers ``run`` reads, lower case

    def validate(self, data: Any) -> Any:
        """On the event loop: the body's validated data, or raise the view's validation error."""
        raise NotImplementedError

    def run(self, incoming: Incoming) -> Outcome:
        """On a request thread: ``(status, body, headers)`` of the answer, or raise an error for
        ``chatr.errors.error_answer``."""
        raise NotImplementedError

    def run_all(self, incomings: list[Incoming]) -> list[Outcome | Exception]:
        """Optional: on one thread, the requests queued together: each one's outcome, or the error ``run`` would
        have raised for it, in order. Each request's own steps run in its ``Incoming.context`` (its limits'
        usages go to its answer). A command that defines it is answered by a ``Drain`` (``CHATR_COMMAND_DRAIN``);
        one that defines only ``run`` is answered on a request thread each."""
        raise NotImplementedError


class _StandIn(HttpRequest):
    """A request of the command's path and a scheme, to compute the headers the middleware give its answers."""

    def __init__(self, path: str, scheme: str) -> None:
        super().__init__()
        self.method = "POST"
        self.path = self.path_info = path
        self.META = {"SERVER_NAME": "localhost", "SERVER_PORT": "443" if scheme == "https" else "80"}
        self._scheme = scheme

    def _get_scheme(self) -> str:
        return self._scheme

    def get_host(self) -> str:
        # CommonMiddleware reads it (for PREPEND_WWW, under which commands stand aside); a real request's Host was
        # checked against ALLOWED_HOSTS at the edge by the same rule.
        return "localhost"


def through_middleware(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """``response`` as the API chain's middleware (``CHATR_API_MIDDLEWARE``) hand it back for ``request``."""
    handler: Callable[[HttpRequest], HttpResponseBase] = lambda _request: response  # noqa: E731
    for path in reversed(settings.CHATR_API_MIDDLEWARE):
        handler = import_string(path)(handler)
    return handler(request)


class Block:
    """The headers of every answer of one view on one scheme, but its own: ``head`` + the answer's + ``tail``, with
    ``Content-Length`` at ``length_at`` in ``tail``."""

    def __init__(self, head: list[Header], tail: list[Header], length_at: int) -> None:
        self.head, self.tail, self.length_at = head, tail, length_at

    def headers(self, own: dict[str, str] | None, length: int) -> list[Header]:
        headers = list(self.head)
        if own:
            headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in own.items()]
        tail = list(self.tail)
        tail[self.length_at] = (b"Content-Length", str(length).encode())
        return headers + tail


def header_block(path: str, scheme: str, view_headers: dict[str, str]) -> Block | None:
    """The block of a DRF answer (``Content-Type``, the answer's own headers, then the view's) after the middleware,
    or ``None`` if a middleware answers such a request itself (a redirect to https): the command then stands aside."""
    try:
        return _header_block(path, scheme, view_headers)
    except Exception:
        logger.exception("the command of %s stands aside: its answers' headers could not be computed", path)
        return None


def _header_block(path: str, scheme: str, view_headers: dict[str, str]) -> Block | None:
    stand_in = HttpResponse(content_type=JSONRenderer.media_type)
    stand_in[_MARK] = "1"
    for name, value in view_headers.items():
        stand_in[name] = value
    answered = through_middleware(_StandIn(path, scheme), stand_in)
    if answered is not stand_in:
        return None
    items = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answered.items()]
    names = [name for name, _ in items]
    mark = names.index(_MARK.encode())
    head, tail = items[:mark], items[mark + 1 :]
    lengths = [index for index, (name, _) in enumerate(tail) if name.lower() == b"content-length"]
    if len(lengths) != 1 or answered.cookies:
        return None
    return Block(head, tail, lengths[0])


def replaying(first: Mapping[str, Any], receive: Any) -> Any:
    """``receive`` that hands out ``first`` (the body already read) once, then the real messages."""
    pending = [first]

    async def replay() -> Mapping[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


class Returns:
    """Answers handed back from the request threads to one event loop: one wake-up of the loop per burst of answers,
    not one per answer (``run_in_executor``'s ``call_soon_threadsafe`` for each request, a write to the loop's
    socket, was a seventh of a post's busy time: the writer's batch wakes its posters at once)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.pending: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []

    def put(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        """From a thread: ``future``'s outcome; the loop is woken only if nothing is already waiting for it."""
        with self.lock:
            wake = not self.pending
            self.pending.append((future, result, error))
        if wake:
            self.loop.call_soon_threadsafe(self.settle)

    def put_all(self, outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
        """From a thread: several futures' outcomes, with at most one wake-up of the loop."""
        with self.lock:
            wake = not self.pending
            self.pending += outcomes
        if wake:
            self.loop.call_soon_threadsafe(self.settle)

    def settle(self) -> None:
        """On the loop: every outcome handed back so far."""
        with self.lock:
            pending, self.pending = self.pending, []
        for future, result, error in pending:
            if future.cancelled():
                continue  # the request's task was cancelled (the server stops)
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


class _Queued:
    __slots__ = ("answered", "incoming", "returns", "scheme")

    def __init__(self, incoming: Incoming, scheme: str, returns: Returns, answered: asyncio.Future[Any]) -> None:
        self.incoming, self.scheme, self.returns, self.answered = incoming, scheme, returns, answered


class Drain:
    """A command's requests queued on the event loop and answered by one request thread at a time: it takes the
    whole queue, runs ``Command.run_all`` over it between one pair of Django's request signals (database
    connections checked and closed as Django would, once for the burst), renders every answer and hands them all
    back with one wake-up of the loop. One hop per burst instead of one per request, and one writer batch for all
    of its posts instead of a hand-off between the posters' threads."""

    def __init__(self, chain: CommandChain, bursts: Any) -> None:
        self.chain = chain
        self.bursts = bursts  # the histogram of the path's bursts
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)  # notified by ``put`` while the drain gathers
        self.queue: list[_Queued] = []
        self.running = False
        self.gathering = False
        self.last_burst = 0
        self.answered_at = 0.0
        self.gap = settings.CHATR_GATHER_GAP_US / 1e6
        self.longest = settings.CHATR_GATHER_MAX_US / 1e6

    def put(self, queued: _Queued) -> None:
        """On the loop: queue a request; a thread is asked for only when none is draining."""
        with self.lock:
            self.queue.append(queued)
            if self.gathering:
                self.arrived.notify()
            start = not self.running
            self.running = True
        if start:
            try:
                self.chain.executor.submit(self.drain)
            except BaseException:  # the pool is shut down: the server stops
                with self.lock:
                    self.running = False
                raise

    def drain(self) -> None:
        while True:
            with self.lock:
                if self.last_burst > 1 and self.queue and time.monotonic() - self.answered_at < self.longest:
                    self.gather()
                burst, self.queue = self.queue, []
                if not burst:
                    self.running = False
                    return
                self.last_burst = len(burst)
            self.answer_all(burst)
            self.answered_at = time.monotonic()

    def gather(self) -> None:
        """With the lock held, when a request is queued shortly after a burst of several was answered (at most
        ``CHATR_GATHER_MAX_US`` before): wait while requests keep arriving — until none came for
        ``CHATR_GATHER_GAP_US`` or ``CHATR_GATHER_MAX_US`` have passed — so that the next burst is one writer batch.

        Group commit's delay, as PostgreSQL's ``commit_delay`` (only while others are posting): under a steady load,
        requests answered together come back together, and without the wait the drain takes them in two halves
        that chase each other, each paying a transaction's fixed cost (a round trip, ``BEGIN``, the rooms' locked
        ``UPDATE``, ``COMMIT``'s WAL flush). A post that arrives alone is taken at once (docs/benchmarks.md)."""
        deadline = time.monotonic() + self.longest
        self.gathering = True
        try:
            while (left := deadline - time.monotonic()) > 0 and self.arrived.wait(min(self.gap, left)):
                pass
        finally:
            self.gathering = False

    def answer_all(self, burst: list[_Queued]) -> None:
        """Answer ``burst``: every request's future is settled, whatever happens."""
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        if settings.CHATR_METRICS:
            self.bursts.observe(len(burst))
        try:
            signals.request_started.send(sender=CommandChain)
            try:
                try:
                    results = self.chain.command.run_all([queued.incoming for queued in burst])
                except Exception as error:  # a bug outside any one request's steps: each gets Django's 500
                    results = [error] * len(burst)
                for queued, result in zip(burst, results, strict=True):
                    answer = self.chain.rendered(queued.incoming, queued.scheme, result)
                    outcomes.append((queued.answered, answer, None))
            finally:
                signals.request_finished.send(sender=CommandChain)
        except BaseException as error:
            answered = {id(future) for future, _, _ in outcomes}
            outcomes += [(queued.answered, None, error) for queued in burst if id(queued.answered) not in answered]
        finally:
            by_loop: dict[int, tuple[Returns, list[tuple[asyncio.Future[Any], Any, BaseException | None]]]] = {}
            futures = {id(queued.answered): queued.returns for queued in burst}
            for outcome in outcomes:
                returns = futures[id(outcome[0])]
                by_loop.setdefault(id(returns), (returns, []))[1].append(outcome)
            for returns, settled in by_loop.values():
                returns.put_all(settled)


class CommandChain:
    """A command's POSTs as an ASGI application: a hop to ``executor`` per request; ``fallback`` for the rest."""

    def __init__(self, path: str, command: Command, executor: ThreadPoolExecutor, fallback: App) -> None:
        self.path = path
        self.command = command
        self.executor = executor
        self.fallback = fallback
        self.renderer = JSONRenderer()
        view = command.view()
        view.setup(HttpRequest())  # as ``as_view`` does: a view with ``get`` gets ``head`` (and HEAD in its Allow)
        view_headers = dict(view.default_response_headers)  # DRF's Allow (and Vary, with two renderers)
        self.blocks = {scheme: header_block(path, scheme, view_headers) for scheme in ("http", "https")}
        if matcher(path) is not None and settings.SECURE_SSL_REDIRECT and settings.SECURE_REDIRECT_EXEMPT:
            self.blocks["http"] = None  # an exemption is matched against the real path, not the stand-in's pattern
        self.reads = frozenset((b"content-type", b"accept", *command.reads))
        self.returns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Returns] = weakref.WeakKeyDictionary()
        label = path.lstrip("/")  # as the request metrics label it (the URL pattern, parameters written alike)
        self.answered = metrics.COMMANDS.labels(label, "answered")
        self.fell_through = metrics.COMMANDS.labels(label, "fell_through")
        self.drain = Drain(self, metrics.COMMAND_BURSTS.labels(label)) if drains(command) else None

    def incoming(self, scope: Scope, body: bytes) -> Incoming | None:
        """The request for the command, parsed and validated on the loop; ``None``: Django's chain answers it."""
        if (
            not body
            or scope.get("root_path")
            or self.blocks.get(scope.get("scheme", "http")) is None
            or settings.SECURE_PROXY_SSL_HEADER  # the scheme is then a header's: Django reads it
            or settings.DISALLOWED_USER_AGENTS  # CommonMiddleware's refusal of some clients
            or settings.PREPEND_WWW  # CommonMiddleware's redirect of some hosts
        ):
            return None
        reads = self.reads
        found: dict[str, str] = {}
        accepts: list[bytes] = []
        for name, value in scope["headers"]:
            if b"_" in name and name.replace(b"_", b"-") in reads:
                return None  # Django reads X_API_KEY as X-API-Key
            if name in reads:
                text = name.decode("latin-1")
                if text in found:
                    return None  # given twice: Django joins the values
                found[text] = value.decode("latin-1")
                if name == b"accept":
                    accepts.append(value)
        content_type = found.get("content-type")
        if content_type is None or content_type.encode("latin-1") not in _JSON:
            return None
        if not default_rendering(accepts):
            return None
        incoming = Incoming(scope["path"], found, parameters_of(self.path, scope["path"]))
        try:
            incoming.data = parse_json(body)
            incoming.valid = self.command.validate(incoming.data)
        except Exception as error:  # raised on the thread, after authentication, as the view would
            incoming.error = error
        return incoming

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        message = await receive()  # BodyLimit hands over the whole body in one message
        if message["type"] != "http.request":
            return  # the client left before its body arrived
        incoming = self.incoming(scope, message.get("body", b""))
        if settings.CHATR_METRICS:
            (self.fell_through if incoming is None else self.answered).inc()
        if incoming is None:
            await self.fallback(scope, replaying(message, receive), send)
            return
        exchange = scope[EXCHANGE]
        context = contextvars.copy_context()  # the edge's collection of limit usages goes along
        returns = self.returns_of(asyncio.get_running_loop())
        answered: asyncio.Future[Answer] = returns.loop.create_future()
        scheme = scope.get("scheme", "http")
        if self.drain is not None:
            incoming.context = context
            self.drain.put(_Queued(incoming, scheme, returns, answered))
        else:

            def work() -> None:
                try:
                    returns.put(answered, context.run(self.answer, incoming, scheme), None)
                except BaseException as error:  # handed to the waiting coroutine, raised there
                    returns.put(answered, None, error)

            self.executor.submit(work)
        try:
            status, headers, content = await answered
        finally:
            exchange.agent_id = incoming.agent_id
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def returns_of(self, loop: asyncio.AbstractEventLoop) -> Returns:
        returns = self.returns.get(loop)
        if returns is None:
            returns = self.returns[loop] = Returns(loop)
        return returns

    def answer(self, incoming: Incoming, scheme: str) -> Answer:
        """On a request thread: the command's answer, as the view's would be, between Django's request signals."""
        signals.request_started.send(sender=self.__class__)
        try:
            try:
                outcome: Outcome | Exception = self.command.run(incoming)
            except Exception as error:
                outcome = error
            return self.rendered(incoming, scheme, outcome)
        finally:
            signals.request_finished.send(sender=self.__class__)

    def rendered(self, incoming: Incoming, scheme: str, outcome: Outcome | Exception) -> Answer:
        """The answer to send for ``outcome``: the view's body and headers, or an error's answer."""
        if isinstance(outcome, Exception):
            answer = error_answer(outcome)
            if answer is None:
                return self.bug(incoming, scheme, outcome)
            outcome = answer
        status, body, own = outcome
        content = self.renderer.render(body)
        block = self.blocks[scheme]
        assert block is not None  # incoming() took only schemes with a block
        return status, block.headers(own, len(content)), content

    def bug(self, incoming: Incoming, scheme: str, error: Exception) -> Answer:
        """A real bug: the answer and the log record Django's handler gives one (``chatr.errors.handler500``)."""
        request = _StandIn(incoming.path, scheme)
        try:
            raise error  # handler500 reads the exception being handled, as when Django calls it
        except Exception:
            response = cast(HttpResponse, through_middleware(request, handler500(request)))
        log_response(
            "%s: %s", "Internal Server Error", incoming.path, response=response, request=request, exception=error
        )
        content = response.content
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
        return response.status_code, headers, content


def drains(command: Command) -> bool:
    """Whether ``command``'s requests are answered by a ``Drain``: it defines ``run_all`` and the setting allows it
    (``CHATR_COMMAND_DRAIN``)."""
    return type(command).run_all is not Command.run_all and bool(settings.CHATR_COMMAND_DRAIN)
