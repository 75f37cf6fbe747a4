#!/bin/bash
# usage: rounds.sh OUT.jsonl ROUNDS LABEL_A=TREE_A LABEL_B=TREE_B
out=$1; rounds=$2; shift 2
trees=("$@")
for r in $(seq 1 $rounds); do
  if (( r % 2 )); then order=("${trees[@]}"); else order=($(printf '%s\n' "${trees[@]}" | tac)); fi
  for p in 1 2; do
    for t in "${order[@]}"; do
      label=${t%%=*}; tree=${t#*=}
      start=$(date -u +%H:%M:%S)
      res=$(cd $tree && .venv/bin/python bench/post_load.py --db postgres --processes $p --seconds 8 --rate 0 --account 2>/dev/null)
      echo "$res" | python3 -c "
import json,sys; r=json.load(sys.stdin); r['label']='$label'; r['start']='$start'; r['round']=$r
print(json.dumps(r))" >> $out
      echo "$start $label p=$p done"
    done
  done
done
