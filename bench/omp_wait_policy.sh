#!/usr/bin/env bash
# How OpenMP's waiting policy behaves on a quiet and on a loaded machine (issue 10, kind 9):
# LFC W1A1 training images/s (Fashion-MNIST, 1 and 2 threads) and the runtime's batch-256
# frames/s and batch-1 latency, under libgomp's policies, each with no other process and
# with one busy process beside it (a shell loop: another user's job on a 2-core machine).
#   bench/omp_wait_policy.sh [TRAIN_IMAGES, default 6000] [REPEATS, default 3]
# Each figure is the median of REPEATS runs.
# Needs build/bin/lowbit; writes its scratch files to runs/omp-wait/.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-6000}
repeats=${2:-3}
lowbit=build/bin/lowbit
out=runs/omp-wait
mkdir -p "$out"
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p')), $(nproc) cores; $(date -u +%FT%TZ); git $(git rev-parse --short HEAD)"
# A deployable LFC W1A1 for the runtime rows (trained once, 1 epoch).
if [ ! -f "$out/lfc.lbm" ]; then
  $lowbit train --model lfc --weights binary --acts binary --input-bits 1 --data fashion-mnist --epochs 1 \
    --train-limit 2000 --test-limit 500 --progress lines --overwrite --out "$out/lfc" >/dev/null
  $lowbit export "$out/lfc/best.ckpt" -o "$out/lfc.lbm" >/dev/null
fi
# Each policy as environment assignments ("default" = libgomp's own: spin 300000 iterations, then sleep).
policies=("default:" "passive:OMP_WAIT_POLICY=passive" "spin-1k:GOMP_SPINCOUNT=1000" \
          "spin-10k:GOMP_SPINCOUNT=10000" "spin-100k:GOMP_SPINCOUNT=100000" "active:OMP_WAIT_POLICY=active")
load_pid=""
start_load() { sh -c 'while :; do :; done' & load_pid=$!; }
stop_load() { [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null || true; load_pid=""; }
trap stop_load EXIT
printf "%-8s %-10s %12s %12s %12s %12s\n" load policy train_t1 train_t2 run256_t2 lat1_t2_us
for load in quiet loaded; do
  for p in "${policies[@]}"; do
    name=${p%%:*} envs=${p#*:}
    [ "$load" = loaded ] && start_load
    median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
    train_ips() {  # threads -> images/s of one epoch
      env $envs $lowbit train --model lfc --weights binary --acts binary --input-bits 1 --data fashion-mnist \
        --epochs 1 --train-limit "$n" --test-limit 1000 --threads "$1" --progress lines 2>/dev/null |
        sed -n 's/.*(\([0-9.]*\) img\/s).*/\1/p'
    }
    bench_field() {  # batch field -> the bench's JSON field
      env $envs $lowbit bench "$out/lfc.lbm" --batch "$1" --threads 2 --seconds 1 --json | sed -n "s/.*\"$2\":\([0-9.e+]*\).*/\1/p"
    }
    t1=$(for r in $(seq "$repeats"); do train_ips 1; done | median)
    t2=$(for r in $(seq "$repeats"); do train_ips 2; done | median)
    fps=$(for r in $(seq "$repeats"); do bench_field 256 fps; done | median)
    lat=$(for r in $(seq "$repeats"); do bench_field 1 latency_us_p50; done | median)
    stop_load
    printf "%-8s %-10s %12.0f %12.0f %12.0f %12.1f\n" "$load" "$name" "$t1" "$t2" "$fps" "$lat"
  done
done
