#!/usr/bin/env bash
# Runs one row of docs/RESULTS.md's quantization table and prints it as a markdown row:
#   scripts/qat_table.sh NAME MODEL EPOCHS [extra lowbit train flags...]
# e.g. scripts/qat_table.sh W1A1 lfc 10 --weights binary --acts binary
# LOWBIT_BIN overrides the binary (default build/bin/lowbit), LOWBIT_THREADS the threads (2).
# Output folder runs/table/NAME-MODEL-EPOCHS (checkpoints, metrics.jsonl, train.log).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 model=$2 epochs=$3
shift 3
out=runs/table/$name-$model-$epochs
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
"${LOWBIT_BIN:-build/bin/lowbit}" train --model "$model" --data fashion-mnist --epochs "$epochs" --batch 100 --seed 1 \
  --threads "${LOWBIT_THREADS:-2}" --progress lines --out "$out" "$@" > "$out/train.log"
end=$(date +%s)
python3 - "$out/metrics.jsonl" "$name" "$model" "$epochs" "$((end - start))" "$*" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
name, model, epochs, wall, flags = sys.argv[2:7]
last = rows[-1]
best = max(r["test_acc"] for r in rows)
per_epoch = sum(r["seconds"] for r in rows) / len(rows)
print(f"| {name} | {model} | `{flags}` | {epochs} | {per_epoch:.1f} | {wall} | {last['test_acc']:.4f} | {best:.4f} |")
PY
