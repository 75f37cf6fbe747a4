"""Schema fuzzing of both API surfaces with schemathesis (see tests/hardening/fuzz.py): no failure, no 500.

Bounded to stay within CI time (about a minute); ``bench/fuzz.py`` runs the same with more examples and
a random seed. ``CHATR_FUZZ_SEED`` and ``CHATR_FUZZ_EXAMPLES`` change this run's seed and size.
"""

from __future__ import annotations

import os

import pytest

from tests.hardening.fuzz import fuzz_everything

pytestmark = pytest.mark.e2e


def test_schemathesis_finds_no_failure_in_any_operation_of_either_surface():
    seed = int(os.environ.get("CHATR_FUZZ_SEED", "20261126"))
    runs = fuzz_everything(max_examples=int(os.environ.get("CHATR_FUZZ_EXAMPLES", "30")), seed=seed)
    for run in runs:
        assert run.returncode == 0, run.output[-12000:]
        assert "Selected:" in run.output  # it really ran operations
    main, rotate = runs
    assert "Tested: 0" not in main.output
    assert "Internal Server Error" not in rotate.output.split("--- server log ---")[1]
    assert "Traceback" not in rotate.output.split("--- server log ---")[1]
