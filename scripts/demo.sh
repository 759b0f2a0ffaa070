#!/usr/bin/env bash
# The main demo: install dependencies, build, train a binary (W1A1) LFC network on
# Fashion-MNIST, evaluate the saved checkpoint and print the results.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target lowbit_cli   # the demo needs only the CLI
out=${LOWBIT_DEMO_OUT:-runs/demo-lfc-w1a1}
rm -rf "$out"
build/bin/lowbit summary --model lfc --weights binary --acts binary
build/bin/lowbit train --model lfc --weights binary --acts binary --data fashion-mnist \
  --epochs "${LOWBIT_DEMO_EPOCHS:-20}" --batch 100 --lr 0.001 --optimizer adam --seed 1 --out "$out"
build/bin/lowbit eval "$out/last.ckpt" --data fashion-mnist --predictions "$out/predictions.txt"
echo "metrics per epoch: $out/metrics.jsonl; predictions: $out/predictions.txt"
