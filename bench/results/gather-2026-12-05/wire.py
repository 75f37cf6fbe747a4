"""Throwaway: chatr.serve under wrk -c50, each kind in turn on one server, py-spy --gil optional."""
import os, subprocess, sys, time, json, tempfile
from pathlib import Path
T = os.environ.get("TREE", "/work/main"); sys.path.insert(0, T + "/bench"); sys.path.insert(0, T)
os.chdir(os.environ.get("TREE", "/work/main"))
import compare, requests
order = sys.argv[1].split(",")
spy = os.environ.get("SPY", "")
work = Path(tempfile.mkdtemp())
template = compare.migrated_template(work)
t = compare.Chatr(work, template, {})
t.start()
keys = compare.populate(t.url, agents=200, messages=0)
env = {"CHATR_BENCH_KEYS": ",".join(keys)}
answer = requests.post(f"{t.url}/api/messages", json={"content": "the message every conversation post replies to"},
                       headers={"Authorization": f"Bearer {keys[0]}"}, timeout=30)
conv = {**env, "CHATR_BENCH_MENTIONS": "agent197,agent198,agent199", "CHATR_BENCH_REPLY_TO": answer.json()["message"]["id"]}
for i, kind in enumerate(order):
    e = conv if kind.startswith("conv") else env
    compare.wrk(t.url, 2, script="post.lua", env=e)
    prof = None
    if spy:
        prof = subprocess.Popen([".venv/bin/py-spy", "record", "-r", "1000", "-f", "raw", "-d", "8", "--pid", str(t.pid), "-o", f"/tmp/prof/w{kind}{i}.txt"] + (["--gil"] if spy == "gil" else []), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    import psutil
    P = psutil.Process(t.pid)
    th0 = {x.id: x.user_time + x.system_time for x in P.threads()}
    cpu = compare.cpu_seconds(t.pid); wall = time.monotonic()
    r = compare.wrk(t.url, 8, script="post.lua", env=e)
    cpu = compare.cpu_seconds(t.pid) - cpu; wall = time.monotonic() - wall
    th1 = {x.id: x.user_time + x.system_time for x in P.threads()}
    busy = sorted(((th1[k] - th0.get(k, 0)) / wall for k in th1), reverse=True)[:4]
    print("  threads busy:", [round(b, 2) for b in busy])
    if prof: prof.wait()
    print(f"{kind}: {r['rps']:.0f} req/s p99 {r['p99_ms']} ms, server CPU {cpu / r['requests'] * 1e6:.0f} us/post, not201 {r['not_201']}", flush=True)
t.stop()
