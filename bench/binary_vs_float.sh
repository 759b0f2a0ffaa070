#!/usr/bin/env bash
# Is training a binary network as fast as training its float twin? Trains the same preset
# float (ReLU) and W1A1 (binary weights and activations) for EPOCHS epochs each, ROUNDS
# times, alternating so slow periods of the machine hit both, and prints the best and
# median seconds per training epoch (evaluation excluded) of each.
# Usage: bench/binary_vs_float.sh [MODEL] [EPOCHS] [ROUNDS] [THREADS]   (after scripts/build.sh build)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-lfc}
epochs=${2:-2}
rounds=${3:-3}
threads=${4:-2}
[ -x build/bin/lowbit ] || scripts/build.sh build
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$rounds"); do
  for kind in float binary; do
    flags=()
    [ "$kind" = binary ] && flags=(--weights binary --acts binary)
    build/bin/lowbit train --model "$model" --data fashion-mnist --epochs "$epochs" --batch 100 --threads "$threads" \
      --progress lines --out "$out/$kind-$r" "${flags[@]}" >/dev/null
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
res = {}
for kind in ("float", "binary"):
    secs = [json.loads(l)["seconds"] for r in range(1, rounds + 1) for l in open(f"{out}/{kind}-{r}/metrics.jsonl")]
    res[kind] = (min(secs), statistics.median(secs), len(secs))
for kind, (best, med, n) in res.items():
    print(f"{kind:6s}: best {best:6.2f} s/epoch, median {med:6.2f} s/epoch over {n} epochs")
print(f"binary / float: best {res['binary'][0] / res['float'][0]:.3f}, median {res['binary'][1] / res['float'][1]:.3f}")
PY
