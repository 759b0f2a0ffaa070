#!/usr/bin/env bash
# The main demo: install dependencies, build, train a binary (W1A1) LFC network on
# Fashion-MNIST with 8-bit inputs, export it to a .lbm model, check that the runtime's
# predictions equal the trainer's evaluation image for image, and print the runtime's
# accuracy and frames/s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target lowbit_cli   # the demo needs only the CLI
out=${LOWBIT_DEMO_OUT:-runs/demo-lfc-w1a1}
rm -rf "$out"
lowbit=build/bin/lowbit
$lowbit summary --model lfc --weights binary --acts binary --input-bits 8
$lowbit train --model lfc --weights binary --acts binary --input-bits 8 --data fashion-mnist \
  --epochs "${LOWBIT_DEMO_EPOCHS:-20}" --batch 100 --lr 0.001 --optimizer adam --seed 1 --out "$out"
$lowbit eval "$out/last.ckpt" --data fashion-mnist --predictions "$out/trainer-predictions.txt"
$lowbit export "$out/last.ckpt" -o "$out/lfc.lbm"
$lowbit summary "$out/lfc.lbm"
$lowbit run "$out/lfc.lbm" --data fashion-mnist --predictions "$out/runtime-predictions.txt"
if cmp -s "$out/trainer-predictions.txt" "$out/runtime-predictions.txt"; then
  echo "runtime == trainer: all $(wc -l < "$out/runtime-predictions.txt") predictions identical"
else
  echo "runtime and trainer predictions DIFFER" >&2
  exit 1
fi
$lowbit bench "$out/lfc.lbm" --batch 256
$lowbit bench "$out/lfc.lbm" --batch 1
echo "metrics per epoch: $out/metrics.jsonl; model: $out/lfc.lbm"
