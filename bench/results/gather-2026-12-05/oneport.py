"""Throwaway: chatr.run --processes P through one port, wrk posts at several connection counts."""
import os, sys, time, json, tempfile
from pathlib import Path
T = os.environ.get("TREE", "/work/main"); sys.path.insert(0, T + "/bench"); os.chdir(T)
import scaling, compare, redis, subprocess
conns = [int(c) for c in sys.argv[1].split(",")]; procs = [int(p) for p in sys.argv[2].split(",")]
work = Path(tempfile.mkdtemp())
for p in procs:
    db, rurl = scaling.fresh_database(), f"{scaling.REDIS_BASE}/15"
    redis.Redis.from_url(rurl).flushdb()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=T, env={**env, "DATABASE_URL": db}, check=True)
    t = scaling.Cluster(work, p, db, rurl)
    try:
        t.start()
        keys = compare.populate(t.url, agents=200, messages=0)
        e = {"CHATR_BENCH_KEYS": ",".join(keys)}
        compare.wrk(t.url, 3, script="post.lua", env=e, connections=50)
        for c in conns:
            l0 = os.getloadavg()[0]
            r = compare.wrk(t.url, 8, script="post.lua", env=e, connections=c)
            print(f"procs {p} conn {c} gather {os.environ.get('AB_GATHER_US', '0')}: {r['rps']:.0f} req/s p99 {r['p99_ms']} not201 {r['not_201']} load {l0:.1f}", flush=True)
    finally:
        t.stop(); scaling.drop_database(db)
