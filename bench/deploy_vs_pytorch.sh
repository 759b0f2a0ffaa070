#!/usr/bin/env bash
# Side by side, same batch and threads: the lowbit runtime on an exported .lbm
# (`lowbit bench`) and the float32 PyTorch twin of the same preset (bench/pytorch_infer.py,
# random weights, timing only), one after the other; prints both JSON lines and
# the ratio lowbit fps / pytorch fps (the issue asks for >= 20x).
# Usage: bench/deploy_vs_pytorch.sh MODEL.lbm {lfc|cnv} BATCH THREADS [SECONDS]   (after scripts/build.sh build)
# PyTorch runs as `--jit` (trace + optimize_for_inference), its fastest plain-CPU float32 path
# here (faster than eager for lfc and cnv, batch 1 and 256); PT_FLAGS overrides it (e.g.
# PT_FLAGS= for eager). PYTHON picks the interpreter (default: the first of /usr/bin/python3,
# python3 that imports torch). Measure on a quiet machine: the two runs do not overlap, so
# load that comes and goes hits them unequally.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
  echo "usage: $0 MODEL.lbm {lfc|cnv} BATCH THREADS [SECONDS]" >&2
  exit 2
fi
lbm=$1 model=$2 batch=$3 threads=$4 seconds=${5:-3}
case $model in lfc | cnv) ;; *) echo "model must be lfc or cnv, got '$model'" >&2; exit 2 ;; esac
[ -f "$lbm" ] || { echo "no such model file: $lbm" >&2; exit 2; }
[ -x build/bin/lowbit ] || { echo "build/bin/lowbit missing: run scripts/build.sh build" >&2; exit 2; }
pt_flags=${PT_FLAGS---jit}
if [ -z "${PYTHON:-}" ]; then
  for py in /usr/bin/python3 python3; do
    if "$py" -c 'import torch' 2>/dev/null; then PYTHON=$py; break; fi
  done
fi
[ -n "${PYTHON:-}" ] || { echo "no python3 with torch found (Debian: apt-get install python3-torch)" >&2; exit 2; }

ours=$(build/bin/lowbit bench "$lbm" --batch "$batch" --threads "$threads" --seconds "$seconds" --json)
# shellcheck disable=SC2086  # pt_flags is a list of flags
theirs=$("$PYTHON" bench/pytorch_infer.py --model "$model" --batch "$batch" --threads "$threads" \
  --seconds "$seconds" $pt_flags)
echo "$ours"
echo "$theirs"
"$PYTHON" - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("batch", "threads"):
    if ours[k] != theirs[k]:
        print(f"warning: {k} differs: lowbit {ours[k]}, pytorch {theirs[k]}", file=sys.stderr)
print(f"ratio lowbit/pytorch fps: {ours['fps'] / theirs['fps']:.2f}x "
      f"(lowbit {ours['fps']:.0f} frames/s, {ours['isa']}; pytorch {theirs['variant']} {theirs['fps']:.0f} frames/s; "
      f"batch {ours['batch']}, {ours['threads']} threads; p50 latency {ours['latency_us_p50']:.0f} us vs "
      f"{theirs['latency_us_p50']:.0f} us)")
PY
