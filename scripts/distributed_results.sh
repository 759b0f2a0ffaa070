#!/usr/bin/env bash
# Data-parallel training on this machine (docs/DISTRIBUTED.md "Measured"): trains MODEL for
# EPOCHS on one process, then with `mpirun -np 2` twice and `-np 4 --oversubscribe`, all with
# the same global batch and seed, and prints per run the seconds per epoch (training only,
# from metrics.jsonl), the final test accuracy, whether two 2-rank runs ended bitwise equal
# (every tensor of last.ckpt), the largest weight difference from the one-process run, and
# how many test predictions equal the one-process run's.
#
# Usage: scripts/distributed_results.sh MODEL EPOCHS OUT [TRAIN_LIMIT]
#   e.g. scripts/distributed_results.sh lfc 3 runs/dist-lfc
#        scripts/distributed_results.sh cnv 1 runs/dist-cnv 6000
# Environment: LOWBIT_BIN (default build/bin/lowbit), CKPT_DIFF (build/bin/ckpt_diff,
# tools/ckpt_diff.cpp), SEED (1), THREADS1 (threads of the one-process run, 0 = all cores).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,14p' "$0"; exit 2; }
model=$1 epochs=$2 out=$3 limit=${4:-0}
bin=${LOWBIT_BIN:-build/bin/lowbit}
diff_tool=${CKPT_DIFF:-build/bin/ckpt_diff}
seed=${SEED:-1}
case $model in
  lfc) net=(--model lfc --weights binary --acts binary --input-bits 1) ;;
  cnv) net=(--model cnv --weights binary --acts binary --input-quantizer fixed:8,7:signed --last-bn tensor) ;;
  *) echo "MODEL must be lfc or cnv" >&2; exit 2 ;;
esac
common=(train "${net[@]}" --data fashion-mnist --epochs "$epochs" --lr 0.005 --seed "$seed" --train-limit "$limit"
        --progress lines --overwrite)
# Open MPI refuses root unless told; only for these commands.
mpi=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe)
mkdir -p "$out"
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus; $(mpirun --version | head -n 1)"
echo "# $0 $*  (SEED=$seed)"
"$bin" "${common[@]}" --threads "${THREADS1:-0}" --out "$out/np1" > "$out/np1.log"
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --out "$out/np2" > "$out/np2.log"
"${mpi[@]}" -np 2 "$bin" "${common[@]}" --out "$out/np2b" > "$out/np2b.log"
"${mpi[@]}" -np 4 "$bin" "${common[@]}" --out "$out/np4" > "$out/np4.log"
for run in np1 np2 np2b np4; do
  "$bin" eval "$out/$run/last.ckpt" --data fashion-mnist --predictions "$out/$run.pred" > /dev/null
  grep -h "data parallel" "$out/$run.log" | sed "s/^/$run: /" || true
  /usr/bin/python3 - "$out/$run/metrics.jsonl" "$run" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
secs = [r["seconds"] for r in rows]
comm = [r.get("allreduce_seconds", -1) for r in rows]
comm_text = f"; all-reduce s/epoch {' '.join(f'{c:.1f}' for c in comm)}" if min(comm) >= 0 else ""
print(f"{sys.argv[2]}: seconds/epoch {' '.join(f'{s:.1f}' for s in secs)} (mean {sum(secs)/len(secs):.1f}){comm_text}; "
      f"test_acc {rows[-1]['test_acc']:.4f}; images/s {rows[-1]['images_per_second']:.0f}")
PY
done
"$diff_tool" "$out/np2/last.ckpt" "$out/np2b/last.ckpt" "np2 vs np2b"
for run in np2 np4; do
  "$diff_tool" "$out/np1/last.ckpt" "$out/$run/last.ckpt" "np1 vs $run"
  same=$(paste -d' ' "$out/np1.pred" "$out/$run.pred" | awk '$1==$2' | wc -l)
  echo "np1 vs $run: $same of $(wc -l < "$out/np1.pred") test predictions equal"
done
