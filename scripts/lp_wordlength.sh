#!/usr/bin/env bash
# Word-length sweep (seed 002's QPyTorch exercise) for fixed point and block floating point:
# LFC on Fashion-MNIST, the tutorial's recipe (SGD lr 0.05, momentum 0.9, weight decay 1e-4;
# weights, gradients, activations and errors in the low-precision format, momentum and a
# weight accumulator in bfloat16; nearest rounding except stochastic gradients) at each word
# length, against float32 in the same sitting; writes a table and a plot (gnuplot).
#   scripts/lp_wordlength.sh [EPOCHS] [WLS] [THREADS] [TRAIN_LIMIT] [PLOT.svg]
#     EPOCHS (default 2); WLS "2 3 4 5 6 7 8" (default); THREADS (default 2); TRAIN_LIMIT
#     (default 0 = all 60 000); PLOT (default docs/benchmarks/lp-wordlength.svg).
# Fixed point puts each tensor's binary point where its values lie, as the fixed8 recipe of
# scripts/lp_results.sh does at 8 bits: activations fixed:WL,WL-6 (5 integer bits),
# errors fixed:WL,WL+6, gradients fixed:WL,WL+2, weights fixed:WL,WL-2 (range +-2). One
# Q-format for every tensor (the tutorial's FixedPoint(8, 7)) does not train LFC at any of
# these widths: its errors (~1e-3) lie below the step and round to 0 (a first sweep that
# way gave 0.10 at every WL). bfp:WL has one exponent per tensor.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2}
wls=${2:-"2 3 4 5 6 7 8"}
threads=${3:-2}
limit=${4:-0}
plot=${5:-docs/benchmarks/lp-wordlength.svg}
command -v gnuplot > /dev/null || { echo "lp_wordlength.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 2; }
[ -x build/bin/lowbit ] || scripts/build.sh build
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) cores;" \
  "$(date -u +%FT%TZ); git $(git describe --always --dirty); lfc, $epochs epoch(s) of ${limit/#0/60000} images," \
  "batch 100, $threads threads, seed 1"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
train() {  # NAME FLAGS...
  local name=$1
  shift
  build/bin/lowbit train --model lfc --data fashion-mnist --epochs "$epochs" --batch 100 --threads "$threads" \
    --train-limit "$limit" --seed 1 --optimizer sgd --momentum 0.9 --lr 0.05 --weight-decay 1e-4 \
    --out "$out/$name" --progress lines "$@" > "$out/$name.log" 2>&1 || { echo "$name failed:"; tail -3 "$out/$name.log"; }
}
# The last epoch's test accuracy, or NaN when the run stopped early (diverged) or failed.
acc() {
  /usr/bin/python3 -c 'import json,sys; r=open(sys.argv[1]).readlines(); print(json.loads(r[-1])["test_acc"] if len(r) >= int(sys.argv[2]) else "NaN")' \
    "$out/$1/metrics.jsonl" "$epochs" 2>/dev/null || echo NaN
}
train float32
printf "%-4s %-10s %-10s\n" WL fixed bfp > "$out/table.txt"
for wl in $wls; do
  for kind in fixed bfp; do
    if [ "$kind" = fixed ]; then
      fa="fixed:$wl,$((wl - 6))" fe="fixed:$wl,$((wl + 6))" fg="fixed:$wl,$((wl + 2))" fw="fixed:$wl,$((wl - 2))"
    else
      fa="bfp:$wl" fe="bfp:$wl" fg="bfp:$wl" fw="bfp:$wl"
    fi
    train "$kind$wl" --lp-weights "$fw" --lp-acts "$fa" --lp-errors "$fe" --lp-grads "$fg@stochastic" \
      --lp-state bf16 --lp-acc bf16 --lp-rounding nearest
  done
  printf "%-4s %-10s %-10s\n" "$wl" "$(acc "fixed$wl")" "$(acc "bfp$wl")" >> "$out/table.txt"
done
base=$(acc float32)
echo "float32 test accuracy: $base"
[ "$base" != NaN ] || { echo "lp_wordlength.sh: the float32 run failed" >&2; exit 1; }
cat "$out/table.txt"
gnuplot <<GP
set terminal svg size 640,400 font "sans,12"
set output "$plot"
set title "LFC on Fashion-MNIST, $epochs epoch(s): test accuracy against word length"
set xlabel "word length (bits)"
set ylabel "test accuracy"
set key bottom right
set grid
set yrange [0:1]
plot "$out/table.txt" using 1:2 every ::1 with linespoints lw 2 title "fixed point (per-tensor Q)", \
     "$out/table.txt" using 1:3 every ::1 with linespoints lw 2 title "bfp:WL", \
     $base with lines dt 2 lw 2 title "float32"
GP
cp "$out/table.txt" "${plot%.*}.txt"  # the plotted data beside the plot
echo "plot: $plot"
