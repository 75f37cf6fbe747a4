"""CPU per (frame, reader) of the live stream's fan-out, in process, without sockets (issue 22, item 4).

N viewers of ``GET /api/stream`` are opened through ``chatr.asgi.application``, each behind uvicorn's own
httptools protocol (what ``make run`` serves with) on an in-memory transport: every frame takes the path it takes
in production — hub → viewer's ASGI ``send`` → the edge's wrapper → uvicorn's chunked write — up to the transport,
whose ``write`` only keeps the bytes. M messages are posted one after another through ``chat.services`` on a
thread of its own (as a request thread does: the writer, its commit, the frame published after commit), the next
one once every viewer has the previous one (the 20-a-second regime: each message is fanned out on its own).

The figure is the marginal CPU of the whole process: (CPU with N viewers − CPU with 0 viewers) ÷ (N × M), the
same posts in both runs, so the posts' own cost cancels. Every viewer's bytes are checked at the end: each
message once, in id order, none missing.

    .venv/bin/python bench/fanout_cpu.py --readers 2000 --messages 200
    .venv/bin/python bench/fanout_cpu.py --readers 2000 --messages 200 --batch 10  # 10 posts per commit
    .venv/bin/python bench/fanout_cpu.py --readers 2000 --messages 200 --profile /tmp/fanout.prof   # cProfile

Compare a change with the code before it in the same minutes (a worktree of main): the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ID = re.compile(rb"(?:^|\n)id: (\d+)\n")


class MemoryTransport:
    """An asyncio transport that keeps what uvicorn writes and counts the writes (one per frame per viewer when
    each message is fanned out on its own; every byte is checked at the end)."""

    def __init__(self, tally: Tally) -> None:
        self.chunks: list[bytes] = []
        self.tally = tally
        self.closing = False

    def write(self, data: bytes) -> None:
        self.chunks.append(data)
        tally = self.tally
        tally.delivered += data.count(b"\nid: ") if tally.count_ids else 1
        if tally.delivered >= tally.target and tally.reached is not None:
            tally.reached.set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, *args: Any, **kwargs: Any) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class Tally:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.delivered = 0
        self.target = 1 << 62
        self.count_ids = False  # count frames, not writes (a batch's frames share a write)
        self.reached: threading.Event | None = None


def setup(db_path: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatr.settings"
    os.environ["CHATR_SQLITE_PATH"] = db_path
    os.environ["CHATR_RATELIMITS"] = "off"
    os.environ.setdefault("CHATR_LOG_LEVEL", "WARNING")
    os.environ.setdefault("CHATR_STREAM_PING_SECONDS", "3600")
    os.environ.setdefault("CHATR_STREAM_STATS_SECONDS", "3600")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_poster() -> Any:
    from accounts import services as account_services

    agent, _key = account_services.register_agent(name="poster", avatar=None, public_key=None, client_ip="192.0.2.1")
    return agent


async def open_viewers(count: int, tally: Tally) -> tuple[list[MemoryTransport], list[Any]]:
    import uvicorn
    from uvicorn.server import ServerState

    from chatr.serve import hardened_options
    from realtime import hub

    config = uvicorn.Config("chatr.asgi:application", lifespan="off", access_log=False, **hardened_options())
    config.load()
    state = ServerState()
    protocol_class = config.http_protocol_class
    transports, protocols = [], []
    for _ in range(count):
        transport = MemoryTransport(tally)
        protocol = protocol_class(config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop())
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        transports.append(transport)
        protocols.append(protocol)
    for _ in range(3000):
        if hub.subscriber_count() == count and all(b'"type":"history"' in b"".join(t.chunks) for t in transports):
            break
        await asyncio.sleep(0.01)
    else:
        raise SystemExit(f"only {hub.subscriber_count()} of {count} viewers subscribed")
    return transports, protocols


async def close_viewers(protocols: list[Any]) -> None:
    from realtime import hub

    for protocol in protocols:
        protocol.connection_lost(None)  # the client left: uvicorn tells the application
    for _ in range(500):
        if hub.subscriber_count() == 0:
            return
        await asyncio.sleep(0.01)


def post_all(agent: Any, messages: int, tally: Tally, viewers: int, prefix: str, batch: int = 1) -> list[int]:
    """Post ``messages``, ``batch`` at a time in one transaction (their frames reach the loop together); after each
    commit, wait until every viewer has them."""
    from django.db import transaction

    from chat import selectors, services

    lobby = selectors.lobby()
    ids: list[int] = []
    for start in range(0, messages, batch):
        count = min(batch, messages - start)
        tally.reached = threading.Event()
        tally.target = tally.delivered + viewers * (count if tally.count_ids else 1)
        with transaction.atomic():
            for number in range(start, start + count):
                ids.append(services.post_room_message(agent=agent, room=lobby, content=f"{prefix}{number}").pk)
        if viewers and not tally.reached.wait(timeout=30):
            raise SystemExit(f"message {start} did not reach every viewer in 30 s")
    return ids


async def run(readers: int, messages: int, profile: str | None, batch: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tally = Tally(loop)
    tally.count_ids = batch > 1
    agent = await asyncio.to_thread(make_poster)
    await asyncio.to_thread(post_all, agent, 20, tally, 0, "warm")  # warm the post path
    # Baseline: the same posts without a viewer.
    start = time.process_time()
    await asyncio.to_thread(post_all, agent, messages, tally, 0, "b", batch)
    baseline = time.process_time() - start
    transports, protocols = await open_viewers(readers, tally)
    for transport in transports:
        transport.chunks.clear()
    await asyncio.to_thread(post_all, agent, 5, tally, readers, "w")  # warm the fan-out
    for transport in transports:
        transport.chunks.clear()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    from chatr import metrics

    reads = metrics.HUB_LOG_READS._value.get()
    start, wall = time.process_time(), time.perf_counter()
    ids = await asyncio.to_thread(post_all, agent, messages, tally, readers, "m", batch)
    used, wall = time.process_time() - start, time.perf_counter() - wall
    reads = metrics.HUB_LOG_READS._value.get() - reads
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    await close_viewers(protocols)
    writes = sum(len(t.chunks) for t in transports)
    bad = 0
    for transport in transports:
        seen = [int(n) for n in ID.findall(b"".join(transport.chunks))]
        if seen != ids:
            bad += 1
    return {
        "readers": readers,
        "messages": messages,
        "batch": batch,
        "cpu_seconds": round(used, 4),
        "baseline_cpu_seconds": round(baseline, 4),
        "wall_seconds": round(wall, 4),
        "us_per_frame_reader": round((used - baseline) / (readers * messages) * 1e6, 3),
        "transport_writes_per_frame_reader": round(writes / (readers * messages), 3),
        "hub_log_reads": reads,
        "viewers_with_a_wrong_sequence": bad,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1, help="posts committed together (their frames arrive at once)")
    parser.add_argument("--profile", help="write a cProfile of the measured part here (the event loop's thread)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        setup(str(Path(directory) / "fanout.sqlite3"))
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        result = runner(run(args.readers, args.messages, args.profile, args.batch))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
