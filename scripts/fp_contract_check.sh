#!/usr/bin/env bash
# The floating-point contract on real data (issue 10, kind 2): a TFC W1A1 (8-bit input)
# trained on Fashion-MNIST, its BatchNorm constants then patched into the denormal range,
# evaluated by the trainer and run by the runtime on all 10 000 test images. The
# predictions must be identical, as for any checkpoint.
#   scripts/fp_contract_check.sh [EPOCHS, default 3]
# Cases: the issue's example (one hidden channel with gamma = 2e-38, beta = 0), then a
# score channel with gamma = 1e-39 (itself denormal). LOWBIT_BIN overrides the binary.
# Output folder runs/fp-contract; the last lines are markdown rows.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
lowbit=${LOWBIT_BIN:-build/bin/lowbit}
py=/usr/bin/python3
out=runs/fp-contract
mkdir -p "$out"
if [ ! -f "$out/run/last.ckpt" ]; then
  "$lowbit" train --model tfc --weights binary --acts binary --input-bits 8 --data fashion-mnist --epochs "$epochs" \
    --batch 100 --seed 1 --progress lines --overwrite --out "$out/run" > "$out/train.log"
fi
check() {  # name, patches...
  local name=$1
  shift
  $py tools/ckpt_patch.py "$out/run/last.ckpt" "$out/$name.ckpt" "$@"
  "$lowbit" eval "$out/$name.ckpt" --data fashion-mnist --predictions "$out/$name-eval.txt" > "$out/$name-eval.log"
  "$lowbit" export "$out/$name.ckpt" -o "$out/$name.lbm" > /dev/null
  "$lowbit" run "$out/$name.lbm" --data fashion-mnist --predictions "$out/$name-run.txt" > "$out/$name-run.log"
  local differ
  differ=$(paste -d' ' "$out/$name-eval.txt" "$out/$name-run.txt" | awk '$1 != $2' | wc -l)
  echo "| $name | \`$*\` | $(sed -n 's/test accuracy \([0-9.]*\).*/\1/p' "$out/$name-eval.log") | $(sed -n 's/test accuracy \([0-9.]*\).*/\1/p' "$out/$name-run.log") | $differ of $(wc -l < "$out/$name-run.txt") |"
  [ "$differ" = 0 ]
}
echo "| case | patch | eval accuracy | run accuracy | predictions that differ |"
check hidden-gamma 'param:batchnorm_1.gamma[0]=2e-38' 'param:batchnorm_1.beta[0]=0'
check score-gamma 'param:batchnorm_4.gamma[3]=1e-39' 'param:batchnorm_4.beta[3]=0'
