#!/usr/bin/env bash
# Low-precision training recipes against float32, in one sitting (docs/RESULTS.md,
# "Low-precision training"): the same network, seed(s), optimizer (SGD momentum 0.9,
# lr 0.05, cosine), batch 100 and threads; only the --lp-* flags differ. The pbnn* recipes
# are PBNN's table (seed 001) on this network: binarized weights and activations
# (deterministic = binary, stochastic, progressive) trained with Adam lr 1e-3 in fixed point.
#   scripts/lp_results.sh [MODEL] [EPOCHS] [SEEDS] [THREADS] [TRAIN_LIMIT] [RECIPES]
#     MODEL lfc (default) or cnv; EPOCHS (default 10); SEEDS "1 2 3" (default "1");
#     THREADS (default 2); TRAIN_LIMIT images per epoch (default 0 = all 60 000);
#     RECIPES a space-separated subset of the names below (default: all).
#   LOWBIT_BIN=PATH runs that binary instead of build/bin/lowbit.
# Recipes (formats per tensor; docs/NUMERICS.md):
#   float32   no rounding
#   bfp8      bfp:8 on activations, errors, gradients, weights and momentum, stochastic
#             (the SWALP / QPyTorch recipe)
#   bf16      bfloat16 (float:8,7) on all five, nearest-even
#   fixed16   PBNN-style 16-bit fixed point, stochastic: acts fixed:16,10, errors fixed:16,20,
#             grads fixed:16,18, momentum fixed:16,16, weights fixed:16,14
#   fixed8    the same at 8 bits: acts fixed:8,2, errors fixed:8,14, grads fixed:8,10,
#             momentum fixed:8,8, weights fixed:8,6 (acts with 5 integer bits: fixed:8,4
#             clips pre-BatchNorm sums at 8, which float32 evaluation then does not)
#   fixed8-nearest  the negative control: fixed8 with nearest rounding everywhere, no
#             accumulator (updates below half a weight step are lost)
#   pbnnB-K   B in 32 (float32), 16, 8; K in det, stoch, prog: --weights/--acts binary,
#             stochastic or progressive, Adam lr 1e-3 (state float32), and for B = 16 / 8
#             fixed16's / fixed8's formats on acts, errors, gradients and weights; progressive
#             with PBNN's BatchNorm switch at v >= 500 (--bn-threshold-at 500)
# Prints the machine, then per recipe and seed the last epoch's test accuracy (10 000 test
# images) and its difference to float32 with the same seed, and the mean over seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-lfc}
epochs=${2:-10}
seeds=${3:-1}
threads=${4:-2}
limit=${5:-0}
recipes=${6:-"float32 bfp8 bf16 fixed16 fixed8 fixed8-nearest"}
sgd="--optimizer sgd --momentum 0.9 --lr 0.05"
lp16="--lp-acts fixed:16,10 --lp-errors fixed:16,20 --lp-grads fixed:16,18 --lp-weights fixed:16,14"
lp8="--lp-acts fixed:8,2 --lp-errors fixed:8,14 --lp-grads fixed:8,10 --lp-weights fixed:8,6"
flags_of() {
  case $1 in
    pbnn*)
      local bits=${1#pbnn}; bits=${bits%%-*}; local kind=${1##*-} q
      local bn=""
      case $kind in det) q=binary ;; stoch) q=stochastic ;; prog) q=progressive; bn="--bn-threshold-at 500" ;;
        *) echo "lp_results.sh: unknown recipe '$1'" >&2; exit 2 ;; esac
      local lp=""
      case $bits in 32) ;; 16) lp="$lp16 --lp-rounding stochastic" ;; 8) lp="$lp8 --lp-rounding stochastic" ;;
        *) echo "lp_results.sh: unknown recipe '$1'" >&2; exit 2 ;; esac
      echo "--weights $q --acts $q --optimizer adam --lr 0.001 $bn $lp"; return ;;
  esac
  echo -n "$sgd "
  case $1 in
    float32) echo "" ;;
    bfp8) echo "--lp-acts bfp:8 --lp-errors bfp:8 --lp-grads bfp:8 --lp-weights bfp:8 --lp-state bfp:8 --lp-rounding stochastic" ;;
    bf16) echo "--lp-acts bf16 --lp-errors bf16 --lp-grads bf16 --lp-weights bf16 --lp-state bf16 --lp-rounding nearest" ;;
    fixed16) echo "$lp16 --lp-state fixed:16,16 --lp-rounding stochastic" ;;
    fixed8) echo "$lp8 --lp-state fixed:8,8 --lp-rounding stochastic" ;;
    fixed8-nearest) echo "$lp8 --lp-state fixed:8,8 --lp-rounding nearest" ;;
    *) echo "lp_results.sh: unknown recipe '$1'" >&2; exit 2 ;;
  esac
}
for r in $recipes; do flags_of "$r" > /dev/null; done  # an unknown name stops here, not as a float32 row
lowbit=${LOWBIT_BIN:-build/bin/lowbit}  # LOWBIT_BIN: a copy, so that a rebuild cannot change the binary mid-run
[ -n "${LOWBIT_BIN:-}" ] || [ -x build/bin/lowbit ] || scripts/build.sh build
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) cores;" \
  "$(date -u +%FT%TZ); git $(git describe --always --dirty); $model, $epochs epoch(s) of ${limit/#0/60000} images," \
  "cosine schedule, batch 100, $threads threads, seeds: $seeds; binary: $lowbit"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $recipes; do
  for s in $seeds; do
    # shellcheck disable=SC2046
    "$lowbit" train --model "$model" --data fashion-mnist --epochs "$epochs" --batch 100 --threads "$threads" \
      --train-limit "$limit" --seed "$s" --out "$out/$r-$s" \
      --progress lines $(flags_of "$r") > "$out/$r-$s.log" 2>&1 || { echo "$r seed $s failed:"; tail -3 "$out/$r-$s.log"; }
  done
done
/usr/bin/python3 - "$out" "$recipes" "$seeds" "$epochs" <<'PY'
import json, os, sys
out, recipes, seeds, epochs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
def last(r, s):
    p = f"{out}/{r}-{s}/metrics.jsonl"
    if not os.path.exists(p): return None
    rows = [json.loads(l) for l in open(p)]
    if len(rows) < epochs: return None  # stopped early (diverged): no final accuracy
    return rows[-1]["test_acc"], max(x["images_per_second"] for x in rows)
print(f"{'recipe':16s} " + " ".join(f"seed {s:>3s}" for s in seeds) + "   mean    vs float32")
base = {s: last("float32", s) for s in seeds}
for r in recipes:
    accs = [last(r, s) for s in seeds]
    if any(a is None for a in accs):
        print(f"{r:16s} (failed)"); continue
    mean = sum(a[0] for a in accs) / len(accs)
    diff = ""
    if not r.startswith("pbnn") and all(base[s] for s in seeds):
        d = [100 * (accs[i][0] - base[s][0]) for i, s in enumerate(seeds)]
        diff = f"{sum(d) / len(d):+.2f} points"
    print(f"{r:16s} " + " ".join(f"{a[0]:8.4f}" for a in accs) + f"  {mean:.4f}  {diff}")
PY
