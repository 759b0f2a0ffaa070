#!/usr/bin/env bash
# Side by side, in one sitting: training speed of lowbit and PyTorch on the same network,
# optimizer (Adam, cosine), batch (100) and thread count, Fashion-MNIST.
#   bench/train_speed_vs_pytorch.sh [MODEL] [EPOCHS] [THREADS] [TRAIN_LIMIT]
#     MODEL lfc (default) or cnv; EPOCHS per run (default 1; each side reports its fastest
#     epoch); THREADS (default 2); TRAIN_LIMIT images per epoch (default 0 = all 60 000).
# Rows, each the best epoch's images/s:
#   lowbit float, oneDNN GEMMs (the default) | lowbit float, OpenBLAS GEMMs (--gemm openblas)
#   lowbit W1A1 (--weights binary --acts binary, oneDNN) | PyTorch float (Debian's python3-torch,
#   bench/pytorch_train.py; its convolutions on oneDNN/mkldnn, its dense layers on OpenBLAS)
# and the ratios. Prints the CPU first. Needs build/bin/lowbit (scripts/build.sh build);
# installs python3-torch when missing (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-lfc}
epochs=${2:-1}
threads=${3:-2}
limit=${4:-0}
scripts/install-deps.sh python3-torch python3-numpy >/dev/null
[ -x build/bin/lowbit ] || scripts/build.sh build
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) cores;" \
  "$(date -u +%FT%TZ); git $(git rev-parse --short HEAD); $model, $epochs epoch(s) of ${limit/#0/60000} images," \
  "batch 100, $threads threads"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run_lowbit() {  # NAME [flags...]: prints "NAME images/s test_acc"
  local name=$1
  shift
  build/bin/lowbit train --model "$model" --data fashion-mnist --epochs "$epochs" --batch 100 --threads "$threads" \
    --train-limit "$limit" --seed 1 --out "$out/$name" --progress lines "$@" > /dev/null
  /usr/bin/python3 - "$out/$name/metrics.jsonl" "$name" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
print(sys.argv[2], max(x["images_per_second"] for x in r), r[-1]["test_acc"])
PY
}
rows=()
rows+=("$(run_lowbit lowbit-float-onednn --gemm onednn)")
rows+=("$(run_lowbit lowbit-float-openblas --gemm openblas)")
rows+=("$(run_lowbit lowbit-W1A1-onednn --gemm onednn --weights binary --acts binary)")
theirs=$(/usr/bin/python3 bench/pytorch_train.py --model "$model" --epochs "$epochs" --threads "$threads" \
  --train-limit "$limit")
echo "# pytorch: $theirs"  # its version, mkldnn availability, images and threads, into the log
rows+=("$(/usr/bin/python3 -c "import json,sys; t=json.loads(sys.argv[1]); print('pytorch-float', t['images_per_second'], t['test_acc'])" "$theirs")")
printf '%s\n' "${rows[@]}" > "$out/rows"
/usr/bin/python3 - "$out/rows" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
speed = {r[0]: float(r[1]) for r in rows}
torch = speed["pytorch-float"]
for name, ips, acc in rows:
    print(f"{name:24s} {float(ips):9.1f} images/s  test_acc {float(acc):.4f}  {float(ips) / torch:5.2f}x PyTorch")
print(f"oneDNN / OpenBLAS (lowbit float): {speed['lowbit-float-onednn'] / speed['lowbit-float-openblas']:.2f}x")
print(f"W1A1 / float (lowbit, oneDNN):    {speed['lowbit-W1A1-onednn'] / speed['lowbit-float-onednn']:.2f}x")
PY
