#!/usr/bin/env bash
# Side by side, in one run: one training epoch of float LFC (batch 100, 2 threads) in
# lowbit and in PyTorch (Debian's python3-torch, OpenBLAS), and the ratio.
# Usage: bench/train_speed_vs_pytorch.sh [EPOCHS] [THREADS]   (after scripts/build.sh build)
# Installs python3-torch when missing (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
threads=${2:-2}
scripts/install-deps.sh python3-torch python3-numpy >/dev/null
[ -x build/bin/lowbit ] || scripts/build.sh build
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build/bin/lowbit train --model lfc --data fashion-mnist --epochs "$epochs" --batch 100 --threads "$threads" \
  --out "$out" --progress lines >/dev/null
ours=$(python3 -c "import json,sys; r=[json.loads(l) for l in open('$out/metrics.jsonl')]; print(min(x['seconds'] for x in r), r[-1]['test_acc'])")
theirs=$(/usr/bin/python3 bench/pytorch_lfc.py --epochs "$epochs" --threads "$threads")
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours_s, ours_acc = map(float, sys.argv[1].split())
t = json.loads(sys.argv[2])
print(f"lowbit : {ours_s:7.2f} s/epoch  test_acc {ours_acc:.4f}")
print(f"pytorch: {t['epoch_seconds']:7.2f} s/epoch  test_acc {t['test_acc']:.4f}  (torch {t['torch']})")
print(f"speed-up: {t['epoch_seconds'] / ours_s:.2f}x")
PY
