#!/usr/bin/env bash
# Hardware-aware filter pruning of a trained CNN (thesis 003, chapter 4; docs/SPARSITY.md,
# results in docs/RESULTS.md "Filter pruning"): Algorithm 3 with a fixed number of rounds.
# Each round removes STEP of the original filters of the LAYERS (ranked by RANK: msqe,
# magnitude or random; counts rounded down to the layer's PE in the planner's fit on BOARD)
# and fine-tunes for RETRAIN epochs; after every round it prints the test accuracy and the
# planner's frames/s on BOARD at the same budget (lowbit hw plan --fit).
#
# Usage: scripts/filter_prune_results.sh CKPT OUT "LAYERS" "RANKS" ROUNDS STEP RETRAIN [TRAIN_LIMIT]
#   e.g. scripts/filter_prune_results.sh runs/cnv/last.ckpt runs/fp "conv2d_2,conv2d_3,conv2d_4" \
#        "msqe magnitude random" 4 0.1 1 30000
# LAYERS "auto" lets the planner choose (lowbit prune --layers auto --top TOP, TOP=3 by
# default). LOWBIT_BIN (default build/bin/lowbit) names the binary; BOARD (default
# xc7z020), DATA (fashion-mnist), LR (fine-tuning LR, 0.001); TOL (points of accuracy,
# default none): a ranking stops once a round loses more than TOL against the base
# (Algorithm 3's "while accuracy change <= eta").
set -euo pipefail
[ $# -ge 7 ] || { sed -n '2,16p' "$0"; exit 2; }
ckpt=$1 out=$2 layers=$3 ranks=$4 rounds=$5 step=$6 retrain=$7 limit=${8:-0}
bin=${LOWBIT_BIN:-build/bin/lowbit}
board=${BOARD:-xc7z020} data=${DATA:-fashion-mnist} lr=${LR:-0.001} top=${TOP:-3}
mkdir -p "$out"
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# $0 $*"

fps() {  # the planner's fastest fitting design on $board
  "$bin" export "$1" -o "$out/plan.lbm" > /dev/null
  "$bin" hw plan "$out/plan.lbm" --board "$board" --fit | sed -n 's/^--fit: \([0-9.]*\) frames\/s.*/\1/p'
}
acc() { "$bin" eval "$1" --data "$data" --json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p'; }

base_fps=$(fps "$ckpt")
base_acc=$(acc "$ckpt")
echo "rank round filters_pruned accuracy fps speedup layers"
echo "base 0 0 $base_acc $base_fps 1.00 -"
for rank in $ranks; do
  cur=$ckpt
  for r in $(seq 1 "$rounds"); do
    # STEP of the ORIGINAL count per round: of the current count that is step / (1 - (r-1) step).
    frac=$(awk -v s="$step" -v r="$r" 'BEGIN { printf "%.6f", s / (1 - (r - 1) * s) }')
    sel=(--layers "$layers")
    [ "$layers" = auto ] && sel=(--layers auto --top "$top")
    "$bin" prune "$cur" -o "$out/$rank-$r.pruned.ckpt" --filters "$frac" "${sel[@]}" --rank "$rank" \
      --multiple-of auto --board "$board" > "$out/$rank-$r.prune.log"
    "$bin" train --init-from "$out/$rank-$r.pruned.ckpt" --data "$data" --epochs "$retrain" --lr "$lr" \
      --train-limit "$limit" --progress lines --overwrite --out "$out/$rank-$r" > "$out/$rank-$r.train.log"
    cur=$out/$rank-$r/last.ckpt
    f=$(fps "$cur")
    shape=$(grep -o '[a-z0-9_]*: [0-9]* -> [0-9]* filters' "$out/$rank-$r.prune.log" | tr '\n' ';')
    a=$(acc "$cur")
    echo "$rank $r $(awk -v s="$step" -v r="$r" 'BEGIN { print s * r }') $a $f $(awk -v a="$f" -v b="$base_fps" 'BEGIN { printf "%.2f", a / b }') $shape"
    if [ -n "${TOL:-}" ] && awk -v b="$base_acc" -v a="$a" -v t="$TOL" 'BEGIN { exit !(100 * (b - a) > t) }'; then
      echo "$rank: round $r lost more than $TOL points; the previous round is this ranking's result"
      break
    fi
  done
done
