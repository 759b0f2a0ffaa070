#!/usr/bin/env bash
# The cost of simulated low-precision formats (lowbit train --lp-*) against float32 training,
# in one sitting: LFC (or MODEL), the same seed, SGD, batch 100 and threads, one epoch each,
# ROUNDS alternating rounds; prints each recipe's best images/s and its ratio to float32's.
#   bench/lp_vs_f32.sh [MODEL] [THREADS] [TRAIN_LIMIT] [ROUNDS]
# The recipes are scripts/lp_results.sh's (bfp8: bfp:8 on all five tensors, stochastic;
# bf16: bfloat16 on all five; fixed16: 16-bit fixed point on all five, stochastic).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-lfc}
threads=${2:-2}
limit=${3:-0}
rounds=${4:-2}
[ -x build/bin/lowbit ] || scripts/build.sh build
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) cores;" \
  "$(date -u +%FT%TZ); git $(git describe --always --dirty); $model, 1 epoch of ${limit/#0/60000} images, SGD," \
  "batch 100, $threads threads, $rounds rounds"
declare -A flags=(
  [float32]=""
  [bfp8]="--lp-acts bfp:8 --lp-errors bfp:8 --lp-grads bfp:8 --lp-weights bfp:8 --lp-state bfp:8 --lp-rounding stochastic"
  [bf16]="--lp-acts bf16 --lp-errors bf16 --lp-grads bf16 --lp-weights bf16 --lp-state bf16"
  [fixed16]="--lp-acts fixed:16,10 --lp-errors fixed:16,20 --lp-grads fixed:16,18 --lp-state fixed:16,16 --lp-weights fixed:16,14 --lp-rounding stochastic"
)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
  for r in float32 bfp8 bf16 fixed16; do
    # shellcheck disable=SC2086
    build/bin/lowbit train --model "$model" --data fashion-mnist --epochs 1 --batch 100 --threads "$threads" \
      --train-limit "$limit" --test-limit 1000 --seed 1 --optimizer sgd --lr 0.05 --out "$out/$r-$round" \
      --progress lines ${flags[$r]} > /dev/null
  done
done
/usr/bin/python3 - "$out" "$rounds" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
best = {}
for r in ("float32", "bfp8", "bf16", "fixed16"):
    best[r] = max(json.loads(open(f"{out}/{r}-{k}/metrics.jsonl").readline())["images_per_second"] for k in range(1, rounds + 1))
for r, v in best.items():
    print(f"{r:8s} {v:9.1f} images/s  {v / best['float32']:.3f}x float32  (cost {100 * (best['float32'] / v - 1):+.0f}%)")
PY
