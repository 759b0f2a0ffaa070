#!/usr/bin/env bash
# Every deployment figure of docs/BENCHMARKS.md in one sitting (run it on a quiet machine):
# the popcount roof probe and the bit-GEMM kernels (lowbit_bench), then the runtime end to
# end on exported models at batch 256 and 1, 1 and 2 threads, each beside the same network
# in float32 PyTorch with the same batch and threads (bench/deploy_vs_pytorch.sh).
#   bench/deploy_bench.sh NAME=MODEL.lbm:{lfc|cnv} ...  [SECONDS via LOWBIT_BENCH_SECONDS, default 3]
# e.g. bench/deploy_bench.sh lfc-in1=runs/deploy/W1A1-in1-lfc-20/lfc.lbm:lfc cnv=runs/deploy/W1A1-cnv-3/cnv.lbm:cnv
# Needs build/bin/lowbit and build-kbench/bin/lowbit_bench (scripts/build.sh; cmake -B build-kbench).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${LOWBIT_BENCH_SECONDS:-3}
bench=${LOWBIT_KBENCH:-build-kbench/bin/lowbit_bench}
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%FT%TZ); git $(git rev-parse --short HEAD)"
echo "# kernels vs the roof"
"$bench" --benchmark_filter='PopcountRoof|BgemmPm1/256/1024/1024|BgemmPm1/256/256/4608|BgemmThreshold|BgemmPlanes' \
  --benchmark_min_time=0.5 2>/dev/null | grep -E "^BM_" || true
for spec in "$@"; do
  name=${spec%%=*} rest=${spec#*=}
  lbm=${rest%:*} model=${rest##*:}
  for batch in 256 1; do
    for threads in 2 1; do
      echo "# $name batch $batch threads $threads"
      bench/deploy_vs_pytorch.sh "$lbm" "$model" "$batch" "$threads" "$seconds"
    done
  done
done
