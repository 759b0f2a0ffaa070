#!/usr/bin/env bash
# Issue 4's bit-exactness acceptance for one network: train it with 8-bit inputs (unless the
# flags give --input-bits, or MODEL is a JSON topology, which quantizes its own input), evaluate
# it with the trainer, export it, run the export with the runtime, and compare the two
# predictions files image for image and the two accuracies.
#   scripts/deploy_check.sh NAME MODEL EPOCHS [extra lowbit train flags...]
# e.g. scripts/deploy_check.sh W1A1 cnv 3 --weights binary --acts binary
# LOWBIT_BIN overrides the binary (default build/bin/lowbit), LOWBIT_THREADS the threads (2);
# LOWBIT_REUSE=1 keeps an existing last.ckpt in the folder and redoes only eval, export and run.
# Output folder runs/deploy/NAME-MODEL-EPOCHS; the last line is a markdown row.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 model=$2 epochs=$3
shift 3
lowbit=${LOWBIT_BIN:-build/bin/lowbit}
threads=${LOWBIT_THREADS:-2}
base=$(basename "$model")  # a JSON topology's path names the folder by its file name
out=runs/deploy/$name-$base-$epochs
if [ "${LOWBIT_REUSE:-0}" = 1 ] && [ -f "$out/last.ckpt" ]; then
  echo "reusing $out/last.ckpt"
else
  rm -rf "$out"
  mkdir -p "$out"
  input=(--input-bits 8)  # the runtime takes integer inputs; the flags may choose other bits
  case " $* " in *" --input-bits "*) input=() ;; esac
  case "$model" in *.json) input=() ;; esac  # a JSON topology quantizes its input itself (a quant_act first)
  "$lowbit" train --model "$model" --data fashion-mnist --epochs "$epochs" --batch 100 --seed 1 \
    "${input[@]}" --threads "$threads" --progress lines --out "$out" "$@" > "$out/train.log"
fi
"$lowbit" eval "$out/last.ckpt" --data fashion-mnist --threads "$threads" \
  --predictions "$out/trainer-predictions.txt" > "$out/eval.log"
"$lowbit" export "$out/last.ckpt" -o "$out/$base.lbm" > "$out/export.log"
"$lowbit" run "$out/$base.lbm" --data fashion-mnist --threads "$threads" \
  --predictions "$out/runtime-predictions.txt" > "$out/run.log"
if cmp -s "$out/trainer-predictions.txt" "$out/runtime-predictions.txt"; then same=identical; else same=DIFFER; fi
images=$(wc -l < "$out/runtime-predictions.txt")
echo "trainer: $(tail -1 "$out/eval.log")"
echo "runtime: $(tail -1 "$out/run.log")"
echo "| $name | $model | \`$*\` | $epochs | $images | $same |"
[ "$same" = identical ]
