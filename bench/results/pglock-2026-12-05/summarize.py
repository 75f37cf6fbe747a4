"""Medians by (label, processes) of ``bench/post_load.py --account`` runs (JSON lines with a ``label``).

python3 bench/results/pglock-2026-12-05/summarize.py bench/results/pglock-2026-12-05/*.jsonl
"""

import json
import statistics
import sys


def states(run: dict, *words: str, without: str = "") -> float:
    found = run["throughput"]["account"]["backends_by_state_mean"]
    return sum(v for k, v in found.items() if any(w in k for w in words) and not (without and without in k))


def main() -> None:
    runs = [json.loads(line) for name in sys.argv[1:] for line in open(name)]  # noqa: SIM115
    groups: dict[tuple[str, int], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["label"], run["processes"]), []).append(run)
    for (label, processes), group in sorted(groups.items()):

        def med(key: str, group: list[dict] = group) -> float:
            return statistics.median(
                run["throughput"].get(key, run["throughput"].get("account", {}).get(key)) for run in group
            )

        def med_of(function, group: list[dict] = group) -> float:
            return statistics.median(function(run) for run in group)

        rps = [run["throughput"]["rps"] for run in group]
        print(
            f"{label} {processes}p n={len(group)} req/s {statistics.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) "
            f"p99 {med('p99_ms')} ms | µs/post: server {med('server_cpu_us_per_post')} postgres "
            f"{med('postgres_cpu_us_per_post')} (chatr backends {med('chatr_backends_cpu_us_per_post')}) redis "
            f"{med('redis-server_cpu_us_per_post')} wrk {med('wrk_cpu_us_per_post')} | busy "
            f"{med('machine_busy_percent')} % | posts/commit {med('posts_per_commit')} | lock held "
            f"{med_of(lambda r: states(r, 'holding the lock', '(lock held)')):.2f} (running "
            f"{med_of(lambda r: states(r, 'holding the lock', without='WAL')):.2f}, WAL flush "
            f"{med_of(lambda r: states(r, 'WAL')):.2f}, idle in transaction "
            f"{med_of(lambda r: states(r, '(lock held)')):.2f}) waiting {med('waiting_for_lock_mean'):.3f} | load "
            f"{min(r['loadavg_before'][0] for r in group):.1f}-{max(r['loadavg_after'][0] for r in group):.1f}"
        )


main()
