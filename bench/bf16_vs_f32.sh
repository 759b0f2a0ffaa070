#!/usr/bin/env bash
# bfloat16 against float32 training compute (lowbit train --compute bf16 | f32), in one
# sitting: the same network, seed, optimizer (Adam 1e-3, cosine), batch 100 and threads.
#   bench/bf16_vs_f32.sh [MODEL] [EPOCHS] [THREADS] [TRAIN_LIMIT] [QUANT]
#     MODEL lfc (default) or cnv; EPOCHS (default 10); THREADS (default 2); TRAIN_LIMIT
#     images per epoch (default 0 = all 60 000); QUANT "float" (default) or "w1a1"
#     (--weights binary --acts binary).
# One row per precision: best epoch's images/s, last epoch's test accuracy (10 000 test
# images), then the bf16 - f32 accuracy difference in points and the speed ratio. Prints the
# CPU first: on CPUs without AVX512_BF16 this build emulates bf16 (rounded operand copies,
# float32 GEMMs), so the ratio there measures the emulation's cost, not bf16 hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-lfc}
epochs=${2:-10}
threads=${3:-2}
limit=${4:-0}
quant=${5:-float}
case $quant in
  float) qflags=() ;;
  w1a1) qflags=(--weights binary --acts binary) ;;
  *) echo "bf16_vs_f32.sh: QUANT must be float or w1a1, got '$quant'" >&2; exit 2 ;;
esac
[ -x build/bin/lowbit ] || scripts/build.sh build
bf16=$(grep -qw avx512_bf16 /proc/cpuinfo && echo "has AVX512_BF16" || echo "no AVX512_BF16: bf16 emulated")
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) cores," \
  "$bf16; $(date -u +%FT%TZ); git $(git describe --always --dirty); $model $quant, $epochs epoch(s) of" \
  "${limit/#0/60000} images, batch 100, $threads threads, seed 1"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for compute in f32 bf16; do
  build/bin/lowbit train --model "$model" --data fashion-mnist --epochs "$epochs" --batch 100 --threads "$threads" \
    --train-limit "$limit" --seed 1 --compute "$compute" --out "$out/$compute" --progress lines "${qflags[@]}" > /dev/null
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = {}
for c in ("f32", "bf16"):
    r = [json.loads(l) for l in open(f"{sys.argv[1]}/{c}/metrics.jsonl")]
    rows[c] = (max(x["images_per_second"] for x in r), r[-1]["test_acc"])
    print(f"{c:5s} {rows[c][0]:9.1f} images/s  test_acc {rows[c][1]:.4f}")
print(f"bf16 - f32: {100 * (rows['bf16'][1] - rows['f32'][1]):+.2f} points; speed bf16/f32 {rows['bf16'][0] / rows['f32'][0]:.3f}x")
PY
