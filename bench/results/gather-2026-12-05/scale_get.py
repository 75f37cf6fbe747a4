"""Throwaway: 1 vs 2 uvicorn processes on PG+Redis, wrk GET (no writes), 50 connections split."""
import os, subprocess, sys, time, json, tempfile
from pathlib import Path
sys.path.insert(0, "/work/main"); sys.path.insert(0, "/work/main/bench"); os.chdir("/work/main")
import post_load, requests, psutil
from tests.server import ServerProcess
path = sys.argv[1]; rounds = int(sys.argv[2])
workdir = Path(tempfile.mkdtemp())
with post_load.database("postgres", workdir) as db_env:
    env = {**db_env, "CHATR_RATELIMITS": "off"}
    first = ServerProcess(env, server="uvicorn"); first.migrate()
    servers = [first, ServerProcess(env, server="uvicorn")]
    for i, s in enumerate(servers):
        s.log_path = workdir / f"s{i}.log"; s.start()
    key = requests.post(f"{first.url}/api/register", json={"name": "getter"}, timeout=10).json()["agent"]["apiKey"]
    for n in range(60):
        requests.post(f"{first.url}/api/messages", json={"content": f"m {n}"}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    def run(k):
        share = 50 // k
        ps = [subprocess.Popen(["wrk", "-t1", f"-c{share}", "-d8s", s.url + path], stdout=subprocess.PIPE, text=True) for s in servers[:k]]
        total = 0
        for p in ps:
            out, _ = p.communicate()
            for line in out.splitlines():
                if line.startswith("Requests/sec"):
                    total += float(line.split()[1])
        busy = psutil.cpu_percent(interval=None)
        return total
    for s in servers: subprocess.run(["wrk", "-t1", "-c10", "-d2s", s.url + path], capture_output=True)
    for r in range(rounds):
        psutil.cpu_percent(interval=None); a = run(1); ba = psutil.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None); b = run(2); bb = psutil.cpu_percent(interval=None)
        print(f"{path}: 1 proc {a:.0f} req/s (machine {ba:.0f}%), 2 procs {b:.0f} (machine {bb:.0f}%), ratio {b/a:.2f}", flush=True)
    for s in servers: s.stop()
