#!/bin/bash
# usage: rounds.sh OUT ROUNDS  -- alternates before/after, 1 and 2 processes
out=$1; rounds=${2:-3}
for r in $(seq 1 $rounds); do
  if (( r % 2 )); then order="before after"; else order="after before"; fi
  for procs in 1 2; do
    for side in $order; do
      dir=/work/wt-pgscale; [ $side = before ] && dir=/work/wt-pgscale-before
      (cd $dir && .venv/bin/python bench/post_load.py --db postgres --processes $procs --seconds 8 --rate 0 2>/dev/null) \
        | python3 -c "import json,sys; r=json.load(sys.stdin); r.pop('per_process',None); r['throughput'].pop('per_process',None); r['side']='$side'; r['round']=$r; r['utc']='$(date -u +%H:%M:%S)'; print(json.dumps(r))" >> $out
      tail -1 $out | python3 -c "import json,sys; r=json.load(sys.stdin); t=r['throughput']; print(r['utc'], r['side'], r['processes'], 'load', round(r['loadavg_before'][0],2), 'rps', t['rps'], 'p99', t['p99_ms'], 'srv%', t['server_cpu_percent'], 'us/post srv', t['server_cpu_us_per_post'], 'pg', t['postgres_cpu_us_per_post'], 'redis', t['redis-server_cpu_us_per_post'], 'wrk', t['wrk_cpu_us_per_post'], 'machine', t['machine_cpu_us_per_post'], 'busy%', t['machine_busy_percent'], 'non2xx', t['non_2xx'])"
    done
  done
done
