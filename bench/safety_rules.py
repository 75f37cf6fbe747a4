"""What checking a post against the house rules costs (contract §13's budget: ≤ 1 ms p99 with 200 rules).

In process, without a server or database: the compiled rule set (``safety.rules.RuleSet``) of 200 enabled rules —
100 ``terms`` rules of 10 terms each (1,000 terms), 20 ``pattern`` rules, 40 ``links`` rules, 20 ``new_agent``, 10
``near_duplicate`` and 10 ``flood`` rules — and a near-duplicate index filled with 100,000 recent posts of 2,000
agents in one room. Then ``--posts`` lobby-sized posts (random words, some with links, numbers and emoji) are
checked one by one, as ``safety.services.check_post`` does: the content matchers, the links read once, the word
set and the near-duplicate lookup, and the post added to the index. The database parts of a check (the rule
set's version, read at most twice a second per process; an audit row for a blocked or held post) are not in it.

Prints the process CPU time of one check (p50/p90/p99/max; what the check costs, whatever else the machine runs),
the wall-clock time beside it, and the index's memory (tracemalloc). The near-duplicate rules' lowest similarity is
0.3, the recommended one: one row per LSH band, so the most candidates per check.

``--vocabulary english`` draws the posts' words from the synonym classes' words (``safety/data/synonyms.txt.gz``)
instead of random letters, so that every word is one the near-duplicate word set folds (``safety.synonyms``).

    .venv/bin/python bench/safety_rules.py --posts 5000 [--vocabulary random|english]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import statistics
import string
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout this script is in
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")

import django

django.setup()

from safety import near_duplicates  # noqa: E402
from safety.kinds import clean_settings  # noqa: E402
from safety.rules import CompiledRule, RuleSet, Subject, hosts_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    "".join(random.Random(n).choices(string.ascii_lowercase, k=random.Random(n + 1).randint(2, 9))) for n in range(5000)
]


def english_words() -> list[str]:
    """5,000 words of the synonym classes, each one that folds (read here as text, so any checkout can use it)."""
    with gzip.open(ROOT / "safety" / "data" / "synonyms.txt.gz", "rt", encoding="ascii") as file:
        listed = sorted({word for line in file if not line.startswith("#") for word in line.split()})
    return random.Random(5).sample(listed, 5000)


def rules() -> tuple[CompiledRule, ...]:
    made = []

    def add(kind: str, settings: dict) -> None:
        number = len(made)
        made.append(
            CompiledRule(
                pk=number,
                name=f"{kind}-{number}",
                reason="bench",
                kind=kind,
                action="block" if number % 2 else "hold",
                scopes=frozenset({"lobby", "groups"}),
                unverified_only=False,
                settings=clean_settings(kind, settings),
            )
        )

    rng = random.Random(7)
    for _ in range(100):
        add("terms", {"terms": [f"zz{rng.randrange(10**9)} {rng.choice(WORDS)}" for _ in range(10)]})
    for n in range(20):
        add("pattern", {"pattern": f"(?i)(ignore|forget) (all )?previous {n} instructions|send \\d+ btc{n}"})
    for n in range(40):
        add("links", {"domains": [f"scam{n}-{k}.example" for k in range(5)]})
    for _ in range(20):
        add("new_agent", {"minutes": 60})
    for n in range(10):
        add("near_duplicate", {"similarity": 0.3 + 0.05 * n, "agents": 3 + n, "window": 10})
    for _ in range(10):
        add("flood", {"posts": 1000, "seconds": 5, "minutes": 5})
    return tuple(made)


def text(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(5, 35))]
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), f"https://site{rng.randrange(100)}.com/x")
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), str(rng.randrange(1000)))
    if rng.random() < 0.2:
        words.append("🚀")
    return " ".join(words)[:250]


def check(rule_set: RuleSet, index: near_duplicates.Index, content: str, agent: str) -> None:
    subject = Subject(scope="lobby", verified=False, content=content)
    applicable = rule_set.applicable(subject)
    hosts = hosts_of(content) if rule_set.needs_hosts(subject) else None
    rule_set.content_matches(subject, hosts=hosts)
    near = [rule for rule in applicable if rule.kind == "near_duplicate"]
    hashes = near_duplicates.word_set(content)
    if hashes is not None:
        alike = index.alike(
            scope="lobby", agent=agent, hashes=hashes, at_least=min(rule.settings["similarity"] for rule in near)
        )
        for rule in near:
            len({item.agent for item in alike if item.similarity >= rule.settings["similarity"]})
        index.add(scope="lobby", agent=agent, hashes=hashes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--recent", type=int, default=100_000)
    parser.add_argument("--vocabulary", choices=["random", "english"], default="random")
    arguments = parser.parse_args()
    if arguments.vocabulary == "english":
        WORDS[:] = english_words()
    rng = random.Random(1)
    rule_set = RuleSet(version=1, rules=rules())
    tracemalloc.start()
    # rows for the lowest similarity (0.3, the recommended one): one row per band, the most candidates per check.
    index = near_duplicates.Index(rows=near_duplicates.rows_for(0.3), window_seconds=3600)
    for number in range(arguments.recent):
        hashes = near_duplicates.word_set(text(rng))
        if hashes is not None:
            index.add(scope="lobby", agent=f"agent{number % 2000}", hashes=hashes)
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The first check after tracemalloc stops pays for its clean-up (about 20 ms with 20,000 posts indexed, more with
    # 100,000; 0.9 ms without tracemalloc): one untimed check, so the max is the check's, not the measurement's.
    check(rule_set, index, text(rng), "warm-up")
    timings, walls = [], []
    for number in range(arguments.posts):
        content = text(rng)
        started, wall = time.process_time(), time.perf_counter()
        check(rule_set, index, content, f"agent{number % 2000}")
        timings.append((time.process_time() - started) * 1e6)
        walls.append((time.perf_counter() - wall) * 1e6)
    timings.sort()
    walls.sort()
    p90, p99 = (timings[int(len(timings) * share) - 1] for share in (0.90, 0.99))
    print(
        f"rules: {len(rule_set.rules)}  recent posts in the index: {len(index):,}"
        f"  index memory: {memory / 2**20:.0f} MiB"
    )
    print(
        f"process CPU per check (µs): p50 {statistics.median(timings):.0f}  p90 {p90:.0f}  p99 {p99:.0f}"
        f"  max {timings[-1]:.0f}  ({arguments.posts:,} posts)"
    )
    print(
        f"wall clock per check (µs): p50 {statistics.median(walls):.0f}"
        f"  p99 {walls[int(len(walls) * 0.99) - 1]:.0f}  max {walls[-1]:.0f}"
    )


if __name__ == "__main__":
    main()
