#!/usr/bin/env bash
# Interop acceptance for one model (docs/INTEROP.md): the two ONNX exports, checked by ONNX's
# own checker and run by code we did not write, against lowbit's runtime.
#   1. lowbit export MODEL --format qonnx / --format onnx (and, for a checkpoint, the .lbm)
#   2. tools/onnx/check_onnx.py on both files (onnx.checker.check_model, full_check)
#   3. lowbit run MODEL.lbm --predictions            (the runtime)
#      tools/onnx/qonnx_eval.py on the QONNX file    (numpy, from the QONNX op docs)
#      tools/onnx/ort_run.js on the ONNX file        (ONNX Runtime, CPU)
#      over the test split (all 10000 Fashion-MNIST images unless LIMIT)
#   4. the three prediction files compared line by line (counts printed; exit 1 on any
#      difference); also the QONNX and ONNX scores bit for bit (printed, not fatal).
# Usage: scripts/interop_check.sh MODEL(.lbm|.ckpt) [LIMIT]      (after scripts/build.sh build)
# LOWBIT_BIN overrides the binary (default build/bin/lowbit), LOWBIT_THREADS the threads (2),
# DATA the dataset (fashion-mnist, or a folder of MNIST-format idx files), OUT the work folder
# (default runs/interop/NAME). `lowbit run` has no image limit: it classifies the whole split
# and its first LIMIT lines are compared.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 MODEL(.lbm|.ckpt) [LIMIT]" >&2
  exit 2
fi
model=$1 limit=${2:-0}
[ -f "$model" ] || { echo "no such model file: $model" >&2; exit 2; }
case $limit in '' | *[!0-9]*) echo "LIMIT must be a non-negative integer, got '$limit'" >&2; exit 2 ;; esac
lowbit=${LOWBIT_BIN:-build/bin/lowbit}
threads=${LOWBIT_THREADS:-2}
data=${DATA:-fashion-mnist}
py=/usr/bin/python3
[ -x "$lowbit" ] || { echo "$lowbit missing: run scripts/build.sh build" >&2; exit 2; }
"$py" -c 'import onnx, numpy' 2>/dev/null ||
  { echo "$py lacks the onnx or numpy package (Debian: apt-get install python3-onnx python3-numpy)" >&2; exit 2; }
command -v node > /dev/null || { echo "node missing (Debian: apt-get install nodejs npm)" >&2; exit 2; }
[ -d tools/onnx/node_modules/onnxruntime-node ] ||
  { echo "onnxruntime-node missing: (cd tools/onnx && npm ci --ignore-scripts)" >&2; exit 2; }

# The test images: the dataset folder's t10k-images-idx3-ubyte[.gz].
case $data in
  fashion-mnist | mnist) dir=${LOWBIT_DATA_ROOT:-/usr/share/datasets}/$data
                         [ -d "$dir" ] || dir=/usr/share/datasets/$data ;;
  *) dir=$data ;;
esac
images=
for f in "$dir/t10k-images-idx3-ubyte" "$dir/t10k-images-idx3-ubyte.gz"; do
  if [ -f "$f" ]; then images=$f; break; fi
done
[ -n "$images" ] || { echo "no t10k-images-idx3-ubyte[.gz] in $dir" >&2; exit 2; }

name=$(basename "$model")
name=${name%.*}
case $model in */best.ckpt | */last.ckpt) name=$(basename "$(dirname "$model")")-$name ;; esac
out=${OUT:-runs/interop/$name}
mkdir -p "$out"
lbm=$model
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

echo "interop_check: $model ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), family $(lscpu | sed -n 's/^CPU family: *//p' | head -1) model $(lscpu | sed -n 's/^Model: *//p' | head -1), $(nproc) cores"
limit_note=
[ "$limit" -gt 0 ] && limit_note=" (first $limit)"
echo "images: $images$limit_note; threads $threads; work folder $out"

t=$(now)
case $model in
  *.lbm) ;;
  *) lbm=$out/$name.lbm
     "$lowbit" export "$model" -o "$lbm" > "$out/export-lbm.log" ;;
esac
"$lowbit" export "$model" --format qonnx -o "$out/$name.qonnx.onnx" > "$out/export-qonnx.log"
"$lowbit" export "$model" --format onnx -o "$out/$name.onnx" > "$out/export-onnx.log"
echo "export: $(took "$t") ($(stat -c %s "$out/$name.qonnx.onnx") bytes QONNX, $(stat -c %s "$out/$name.onnx") bytes ONNX)"

"$py" tools/onnx/check_onnx.py "$out/$name.qonnx.onnx" "$out/$name.onnx"

t=$(now)
"$lowbit" run "$lbm" --data "$data" --threads "$threads" --predictions "$out/lowbit.full.txt" > "$out/run.log"
if [ "$limit" -gt 0 ]; then head -n "$limit" "$out/lowbit.full.txt" > "$out/lowbit.txt"
else cp "$out/lowbit.full.txt" "$out/lowbit.txt"; fi
echo "lowbit run: $(took "$t"): $(tail -1 "$out/run.log")"

limit_flag=()
[ "$limit" -gt 0 ] && limit_flag=(--limit "$limit")
t=$(now)
"$py" tools/onnx/qonnx_eval.py "$out/$name.qonnx.onnx" --images "$images" "${limit_flag[@]}" \
  --predictions "$out/qonnx.txt" --scores "$out/qonnx.scores" 2> "$out/qonnx_eval.log"
echo "qonnx_eval.py (numpy $("$py" -c 'import numpy; print(numpy.__version__)'), onnx $("$py" -c 'import onnx; print(onnx.__version__)')): $(took "$t")"

t=$(now)
node tools/onnx/ort_run.js "$out/$name.onnx" --images "$images" "${limit_flag[@]}" --batch 100 \
  --threads "$threads" --predictions "$out/ort.txt" --scores "$out/ort.scores" 2> "$out/ort_run.log"
echo "ort_run.js: $(took "$t"): $(tail -1 "$out/ort_run.log")"

# Line-by-line agreement of two files: "SAME/TOTAL".
agree() {
  awk 'NR == FNR { a[FNR] = $0; n1 = FNR; next } { n2 = FNR; if (FNR in a && a[FNR] == $0) same++ }
       END { printf "%d/%d", same, (n1 > n2 ? n1 : n2) }' "$1" "$2"
}
n=$(wc -l < "$out/lowbit.txt")
status=0
for pair in "lowbit.txt qonnx.txt" "lowbit.txt ort.txt" "qonnx.txt ort.txt"; do
  set -- $pair
  a=$(agree "$out/$1" "$out/$2")
  echo "predictions ${1%.txt} vs ${2%.txt}: $a agree"
  [ "$a" = "$n/$n" ] || status=1
done
echo "scores qonnx vs ort (float32 bits): $(agree "$out/qonnx.scores" "$out/ort.scores") images bit-equal"
if [ $status = 0 ]; then echo "RESULT: all three agree on $n images"; else echo "RESULT: DIFFER (see $out)"; fi
exit $status
