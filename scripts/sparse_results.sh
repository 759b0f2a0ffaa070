#!/usr/bin/env bash
# Sparse ternary against dense binary (thesis 003, chapter 3; docs/SPARSITY.md, results in
# docs/RESULTS.md "Sparse ternary networks"): trains MODEL (lfc or cnv) twice with the same
# budget -- W1A1 (binary weights) and sparse ternary weights (eta 0.9, convolutions 0.8,
# uniform:1 init, quantized L2, quantization pruning after PRUNE epochs) -- then exports both,
# the ternary one also with compressed weights, and prints: accuracy, zeros, the weight
# memory of each encoding against the entropy bound, whether the compressed model predicts
# exactly what the uncompressed one does on every test image, and the runtime's frames/s.
#
# Usage: scripts/sparse_results.sh MODEL EPOCHS PRUNE OUT [TRAIN_LIMIT]
#   e.g. scripts/sparse_results.sh lfc 10 7 runs/sparse-lfc
# Environment: LOWBIT_BIN (default build/bin/lowbit), LR (0.005), L2 (quantized L2 lambda,
# 3e-6), SEED (1), DATA (fashion-mnist), SKIP_TRAIN=1 (reuse OUT's runs).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,14p' "$0"; exit 2; }
model=$1 epochs=$2 prune=$3 out=$4 limit=${5:-0}
bin=${LOWBIT_BIN:-build/bin/lowbit}
lr=${LR:-0.005} l2=${L2:-3e-6} seed=${SEED:-1} data=${DATA:-fashion-mnist}
case $model in
  lfc) net=(--model lfc --acts binary --input-bits 1); tern=(--weights ternary:0.9) ;;
  cnv) net=(--model cnv --acts binary --input-quantizer fixed:8,7:signed --last-bn tensor)
       tern=(--weights ternary:0.9 --layer-weights 'conv2d_*=ternary:0.8') ;;
  *) echo "MODEL must be lfc or cnv" >&2; exit 2 ;;
esac
common=(--data "$data" --epochs "$epochs" --lr "$lr" --seed "$seed" --train-limit "$limit" --progress lines --overwrite)
mkdir -p "$out"
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus"
echo "# $0 $*  (LR=$lr L2=$l2 SEED=$seed)"
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  "$bin" train "${net[@]}" --weights binary "${common[@]}" --out "$out/w1" > "$out/w1.log"
  "$bin" train "${net[@]}" "${tern[@]}" --init uniform:1 --quant-l2 "$l2" --prune-after "$prune" "${common[@]}" \
    --out "$out/t" > "$out/t.log"
fi
grep -A8 'quantization pruning' "$out/t.log" || true
for n in w1 t; do
  "$bin" export "$out/$n/last.ckpt" -o "$out/$n.lbm" > /dev/null
  echo "$n: last epoch $(tail -n 1 "$out/$n/metrics.jsonl")"
done
"$bin" export "$out/t/last.ckpt" -o "$out/t-huffman.lbm" --weight-coding huffman
"$bin" export "$out/t/last.ckpt" -o "$out/t-rle.lbm" --weight-coding rle
"$bin" export "$out/t/last.ckpt" -o "$out/t-auto.lbm" --weight-coding auto
ls -l "$out"/*.lbm | awk '{ print $5, $9 }'
"$bin" summary "$out/t-auto.lbm" --json > "$out/t-auto.summary.json"
/usr/bin/python3 - "$out/t-auto.summary.json" <<'EOF'
import json, sys
layers = json.load(open(sys.argv[1]))["weights"]
tot = {k: 0 for k in ("codes", "zeros", "entropy_bits", "dense_bits", "rle_bits", "huffman_bits")}
print("layer codes zeros% entropy_bits huffman_bits rle_bits dense2_bits huffman/entropy")
for i, l in enumerate(layers):
    if "zeros" not in l: continue
    for k in tot: tot[k] += l[k]
    print(i, l["codes"], "%.2f" % (100 * l["zeros"] / l["codes"]), round(l["entropy_bits"]), l["huffman_bits"],
          l["rle_bits"], l["dense_bits"], "%.4f" % (l["huffman_bits"] / max(l["entropy_bits"], 1)))
print("total", tot["codes"], "%.2f" % (100 * tot["zeros"] / tot["codes"]), round(tot["entropy_bits"]), tot["huffman_bits"],
      tot["rle_bits"], "binary %d ternary %d" % (tot["codes"], 2 * tot["codes"]),
      "%.4f" % (tot["huffman_bits"] / tot["entropy_bits"]))
EOF
for f in t t-huffman t-rle t-auto; do
  "$bin" run "$out/$f.lbm" --data "$data" --predictions "$out/$f.pred" --json
done
for f in t-huffman t-rle t-auto; do
  cmp -s "$out/t.pred" "$out/$f.pred" && echo "$f: predictions identical to the uncompressed model on all $(wc -l < "$out/t.pred") test images" \
    || { echo "$f: PREDICTIONS DIFFER"; exit 1; }
done
"$bin" eval "$out/t/last.ckpt" --data "$data" --predictions "$out/t.eval.pred" --json
cmp -s "$out/t.pred" "$out/t.eval.pred" && echo "runtime == training evaluation on every test image"
# Runtime speed, one sitting: the dense binary net, then the sparse ternary net with the
# sparse GEMM where the runtime chooses it (auto) and with the dense ternary path (never).
for run in "w1 auto" "t auto" "t never" "w1 auto" "t auto" "t never"; do
  set -- $run
  echo "$1 --sparse $2: $("$bin" bench "$out/$1.lbm" --json --seconds 3 --sparse "$2")"
done
