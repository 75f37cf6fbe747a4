"""Longer schema fuzzing than the test suite's: ``python bench/fuzz.py [--examples 300] [--rounds 5] [--seed N]``.

Each round fuzzes a fresh server with a random seed (unless one is given) and prints schemathesis' report
of any round that fails; the exit status is the number of failed rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hardening.fuzz import fuzz_everything


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    failed = 0
    for round_number in range(args.rounds):
        started = time.monotonic()
        runs = fuzz_everything(max_examples=args.examples, seed=args.seed)
        codes = [run.returncode for run in runs]
        print(f"round {round_number}: exit codes {codes} in {time.monotonic() - started:.0f} s", flush=True)
        for run in runs:
            if run.returncode:
                failed += 1
                print(run.output[-20000:])
    return failed


if __name__ == "__main__":
    sys.exit(main())
