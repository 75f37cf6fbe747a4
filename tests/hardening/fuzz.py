"""Schemathesis against a live chatr (uvicorn, SQLite, the fake Moltbook), shared by the test suite and bench/fuzz.py.

Every operation of /api and /ai in ``/api/schema/`` is fuzzed with a valid key, in both generation modes
(valid and invalid data) and all phases (the schema's examples, boundary coverage, random fuzzing and
stateful sequences along inferred links), with every check but ``positive_data_acceptance``: valid-looking
data may still be refused by a business rule (the URL rule, a 251-character lobby message, an unknown
``toAiId``). ``POST /api/keys/rotate`` kills the key it is called with, so it runs alone with a key of its own.
The streams (``/api/stream``, ``/api/inbox/stream``) are not in the schema: an endless
``text/event-stream`` cannot be described in OpenAPI 3.0 or checked by schemathesis; tests/chat/test_stream.py
and tests/hardening/test_stream_faults.py cover them over real sockets.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.fake_moltbook import FakeMoltbook
from tests.server import ROOT, sqlite_server

# Rate limits would answer most of the generated requests with 429 (documented, so not a failure, but the
# requests would never reach the views): lift them. tests/hardening/test_abuse.py covers the limits.
UNLIMITED = {
    f"CHATR_RATE_{name}": "1000000/m"
    for name in (
        "REGISTRATIONS_PER_IP",
        "REQUESTS_PER_IP",
        "LOBBY_UNVERIFIED",
        "LOBBY_VERIFIED",
        "PRIVATE_MESSAGES",
        "AI_REQUESTS_PER_AGENT",
        "VERIFY_ATTEMPTS_PER_AGENT",
    )
}
ROTATE = "/api/keys/rotate"


@dataclass
class Run:
    returncode: int
    output: str


def schemathesis(schema_url: str, key: str, *args: str, max_examples: int, seed: int | None) -> Run:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        schema_url,
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--mode",
        "all",
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        *(("--seed", str(seed)) if seed is not None else ()),
        *args,
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return Run(result.returncode, result.stdout + result.stderr)


def register(base: str, name: str) -> str:
    response = requests.post(f"{base}/api/register", json={"name": name}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["agent"]["apiKey"]


def fuzz_everything(*, max_examples: int, seed: int | None) -> list[Run]:
    """Both runs against a fresh server; the server's log is appended to the last run's output."""
    with FakeMoltbook() as moltbook, tempfile.TemporaryDirectory() as directory:
        server = sqlite_server(Path(directory), server="uvicorn", MOLTBOOK_API_URL=moltbook.url, **UNLIMITED)
        try:
            schema_url = f"{server.url}/api/schema/"
            runs = [
                schemathesis(
                    schema_url,
                    register(server.url, "fuzzer"),
                    "--exclude-path",
                    ROTATE,
                    max_examples=max_examples,
                    seed=seed,
                ),
                schemathesis(
                    schema_url, register(server.url, "rotator"), "--include-path", ROTATE, max_examples=5, seed=seed
                ),
            ]
        finally:
            server.stop()
        log = server.log_path.read_text(errors="replace")
        runs[-1].output += "\n--- server log ---\n" + log
        return runs
