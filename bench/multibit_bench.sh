#!/usr/bin/env bash
# Multi-bit inference against W1A1 and the popcount roof (docs/BENCHMARKS.md, "Multi-bit
# inference (issue 15)"): the roof probe at 1 and 2 threads (lowbit_bench BM_PopcountRoof),
# then `lowbit bench MODEL.lbm --batch 256 --threads T --seconds S --json` for every model,
# T = 1 and 2, and every binary given, alternating binaries, models and threads for ROUNDS
# rounds in one sitting. Prints per binary, model and threads the median frames/s (and the
# range), the ratio to the first model's frames/s at the same threads, the 2-thread scaling,
# the binary MACs per image (lowbit bench's bit_macs_per_image: MACs x input planes x weight
# planes of every layer) and the roof-implied frames/s = roof(T) / binary MACs per image.
#   bench/multibit_bench.sh NAME=MODEL.lbm ...
# e.g. bench/multibit_bench.sh cnv-w1a1=/tmp/mb/w1a1/cnv.lbm cnv-w1a2=/tmp/mb/w1a2/cnv.lbm
# LOWBIT_BINS: the binaries, "LABEL=PATH ..." (default "new=build/bin/lowbit"); the first
# model is the ratios' reference (put W1A1 first). LOWBIT_KBENCH: lowbit_bench for the roof
# (default build/bin/lowbit_bench; built with -DLOWBIT_BUILD_BENCH=ON). LOWBIT_ROUNDS (3),
# LOWBIT_BENCH_SECONDS (3), LOWBIT_BATCH (256).
set -euo pipefail
cd "$(dirname "$0")/.."
bins=${LOWBIT_BINS:-new=build/bin/lowbit}
kbench=${LOWBIT_KBENCH:-build/bin/lowbit_bench}
rounds=${LOWBIT_ROUNDS:-3}
seconds=${LOWBIT_BENCH_SECONDS:-3}
batch=${LOWBIT_BATCH:-256}
(($# > 0)) || { echo "usage: bench/multibit_bench.sh NAME=MODEL.lbm ..." >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cores; $(date -u +%FT%TZ); git $(git describe --always --dirty)"
echo "# batch $batch, $seconds s per run, $rounds rounds; binaries: $bins"
roof_json=$("$kbench" --benchmark_filter='BM_PopcountRoof' --benchmark_min_time=0.5 --benchmark_format=json 2>/dev/null)
for round in $(seq "$rounds"); do
  for spec in "$@"; do
    name=${spec%%=*} lbm=${spec#*=}
    for threads in 1 2; do
      for b in $bins; do
        label=${b%%=*} bin=${b#*=}
        r=$("$bin" bench "$lbm" --batch "$batch" --threads "$threads" --seconds "$seconds" --json)
        echo "$label $name $threads $r" >> "$log"
        echo "# round $round: $label $name threads $threads: $r"
      done
    done
  done
done
python3 - "$log" "$*" <<EOF
import json, statistics, sys
roof = {}
for b in json.loads('''$roof_json''')["benchmarks"]:
    t = int(b["name"].split("/")[1])
    roof[t] = b["binMACs"]
print("# roof (BM_PopcountRoof): " + ", ".join(f"{t} thread(s) {roof[t] / 1e9:.1f} G binary MACs/s" for t in sorted(roof)))
runs, macs = {}, {}
for line in open(sys.argv[1]):
    label, name, threads, js = line.split(" ", 3)
    r = json.loads(js)
    runs.setdefault((label, name, int(threads)), []).append(r["fps"])
    macs[name] = max(macs.get(name, 0), r.get("bit_macs_per_image", 0))  # binaries before it lack the field
names = [s.split("=", 1)[0] for s in sys.argv[2].split()]
labels = list(dict.fromkeys(k[0] for k in runs))
med = {k: statistics.median(v) for k, v in runs.items()}
print("| binary | model | threads | frames/s (median) | range | / " + names[0] + " | 2-thread scaling | binary MACs/image | roof-implied frames/s | of the roof |")
print("|---|---|---|---|---|---|---|---|---|---|")
for label in labels:
    for name in names:
        for t in (1, 2):
            f = med[(label, name, t)]
            lo, hi = min(runs[(label, name, t)]), max(runs[(label, name, t)])
            ratio = f / med[(label, names[0], t)]
            scaling = f"{med[(label, name, 2)] / med[(label, name, 1)]:.2f}x" if t == 2 else ""
            roof_fps = roof.get(t, 0) / macs[name] if macs[name] else 0
            share = f"{100 * f / roof_fps:.0f}%" if roof_fps else ""
            print(f"| {label} | {name} | {t} | {f:,.0f} | {lo:,.0f}-{hi:,.0f} | {ratio:.3f} | {scaling} | {macs[name]:,} | {roof_fps:,.0f} | {share} |")
EOF
