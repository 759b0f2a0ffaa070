#!/usr/bin/env bash
# Side by side, same batch and threads: the lowbit runtime on an exported .lbm (`lowbit bench`)
# and ONNX Runtime (CPU, onnxruntime-node) on the same model's standard ONNX export
# (`lowbit export --format onnx`: float32 Conv/MatMul on the integer codes, thresholds as
# GreaterOrEqual + ReduceSum, docs/INTEROP.md) timed by tools/onnx/ort_run.js --bench,
# one after the other; prints both JSON lines and the ratio lowbit fps / ORT fps.
# Usage: bench/onnxruntime_vs_lowbit.sh MODEL.lbm BATCH THREADS [SECONDS]   (after scripts/build.sh build
#        and scripts/install-deps.sh, which installs onnxruntime-node into tools/onnx)
# ORT session: intraOpNumThreads THREADS, interOpNumThreads 1, graphOptimizationLevel 'all',
# sequential execution; input float32 pixels prepared once (outside the timed call), the
# graph's ArgMax inside it. REPEATS (default 3) alternates the two REPEATS times and keeps
# each side's best run (this is a shared 2-vCPU machine: load only ever lowers a figure).
# LOWBIT_BIN overrides the binary (default build/bin/lowbit). Measure on a quiet machine; the
# load average is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL.lbm BATCH THREADS [SECONDS]" >&2
  exit 2
fi
lbm=$1 batch=$2 threads=$3 seconds=${4:-3}
repeats=${REPEATS:-3}
[ -f "$lbm" ] || { echo "no such model file: $lbm" >&2; exit 2; }
lowbit=${LOWBIT_BIN:-build/bin/lowbit}
[ -x "$lowbit" ] || { echo "$lowbit missing: run scripts/build.sh build" >&2; exit 2; }
command -v node > /dev/null || { echo "node missing (Debian: apt-get install nodejs)" >&2; exit 2; }
[ -d tools/onnx/node_modules/onnxruntime-node ] ||
  { echo "onnxruntime-node missing: (cd tools/onnx && npm ci --ignore-scripts)" >&2; exit 2; }

name=$(basename "$lbm" .lbm)
case $lbm in */runs/deploy/* | runs/deploy/*) name=$(basename "$(dirname "$lbm")")-$name ;; esac
out=runs/bench-ort
mkdir -p "$out"
onnx=$out/$name.onnx
"$lowbit" export "$lbm" --format onnx -o "$onnx" > /dev/null

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), family $(lscpu | sed -n 's/^CPU family: *//p' | head -1) model $(lscpu | sed -n 's/^Model: *//p' | head -1)," \
     "$(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
best_ours= best_theirs=
for ((i = 0; i < repeats; ++i)); do
  ours=$("$lowbit" bench "$lbm" --batch "$batch" --threads "$threads" --seconds "$seconds" --json)
  theirs=$(node tools/onnx/ort_run.js "$onnx" --bench --batch "$batch" --threads "$threads" --seconds "$seconds")
  echo "$ours"
  echo "$theirs"
  best_ours=$(node -e 'const [a, b] = process.argv.slice(1); console.log(!a || JSON.parse(b).fps > JSON.parse(a).fps ? b : a)' \
    "$best_ours" "$ours")
  best_theirs=$(node -e 'const [a, b] = process.argv.slice(1);
    console.log(!a || JSON.parse(b).frames_per_second > JSON.parse(a).frames_per_second ? b : a)' "$best_theirs" "$theirs")
done
node - "$best_ours" "$best_theirs" "$lbm" "$repeats" <<'JS'
const [ours, theirs] = process.argv.slice(2, 4).map((s) => JSON.parse(s));
const [lbm, repeats] = process.argv.slice(4);
for (const k of ['batch', 'threads'])
  if (ours[k] !== theirs[k]) console.error(`warning: ${k} differs: lowbit ${ours[k]}, ORT ${theirs[k]}`);
const f = (x) => Math.round(x).toLocaleString('en-US').replace(/,/g, ' ');
console.log(`ratio lowbit/onnxruntime fps: ${(ours.fps / theirs.frames_per_second).toFixed(2)}x ` +
  `(lowbit ${f(ours.fps)} frames/s, ${ours.isa}; onnxruntime ${theirs.ort_version} ${f(theirs.frames_per_second)} frames/s; ` +
  `batch ${ours.batch}, ${ours.threads} threads; p50 latency ${ours.latency_us_p50.toFixed(1)} us vs ` +
  `${theirs.latency_us_p50.toFixed(1)} us; best of ${repeats})`);
console.log(`| ${lbm} | ${ours.batch} | ${ours.threads} | ${f(ours.fps)} | ${ours.latency_us_p50.toFixed(1)} | ` +
  `${f(theirs.frames_per_second)} | ${theirs.latency_us_p50.toFixed(1)} | ${(ours.fps / theirs.frames_per_second).toFixed(1)}x |`);
JS
