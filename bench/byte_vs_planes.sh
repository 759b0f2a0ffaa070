#!/usr/bin/env bash
# Integer path or bit-serial for the hidden layers (docs/BENCHMARKS.md, "Integer path vs
# bit-serial"): each model with every hidden layer on codes run bit-serially
# (`lowbit bench --byte-plane-product 81`) and on byte codes with the integer GEMM
# (`--byte-plane-product 1`), at 1 and 2 threads, alternating, ROUNDS rounds; prints the
# median frames/s of each and bytes / planes. The predictions are the same either way.
#   bench/byte_vs_planes.sh NAME=MODEL.lbm ...
# LOWBIT_ROUNDS (3), LOWBIT_BENCH_SECONDS (3), LOWBIT_BATCH (256), LOWBIT_BIN (build/bin/lowbit).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LOWBIT_BIN:-build/bin/lowbit}
rounds=${LOWBIT_ROUNDS:-3}
seconds=${LOWBIT_BENCH_SECONDS:-3}
batch=${LOWBIT_BATCH:-256}
(($# > 0)) || { echo "usage: bench/byte_vs_planes.sh NAME=MODEL.lbm ..." >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cores; $(date -u +%FT%TZ); git $(git describe --always --dirty)"
echo "# batch $batch, $seconds s per run, $rounds rounds"
for round in $(seq "$rounds"); do
  for spec in "$@"; do
    name=${spec%%=*} lbm=${spec#*=}
    for threads in 1 2; do
      for product in 81 1; do
        r=$("$bin" bench "$lbm" --batch "$batch" --threads "$threads" --seconds "$seconds" --byte-plane-product "$product" --json)
        echo "$name $threads $product $r" >> "$log"
      done
    done
  done
done
/usr/bin/python3 - "$log" "$*" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, threads, product, js = line.split(" ", 3)
    runs.setdefault((name, int(threads), int(product)), []).append(json.loads(js)["fps"])
print("| model | threads | bit-planes fps (median) | byte codes fps (median) | bytes / planes |")
print("|---|---|---|---|---|")
for spec in sys.argv[2].split():
    name = spec.split("=", 1)[0]
    for t in (1, 2):
        p, b = statistics.median(runs[(name, t, 81)]), statistics.median(runs[(name, t, 1)])
        print(f"| {name} | {t} | {p:.0f} | {b:.0f} | {b / p:.2f} |")
PY
