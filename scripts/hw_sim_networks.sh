#!/bin/bash
# The generated hardware of the trained networks, simulated against the runtime
# (docs/HARDWARE.md, "Measured: the trained networks in simulation"): per network, a folding
# from `lowbit hw plan --fps`, `lowbit hw rtl`, then `lowbit hw sim` in Verilator on the first
# N Fashion-MNIST test images (every raw score accumulator and label compared with the
# runtime; latency, interval and each unit's clocks against the plan), and a shorter run
# with random back-pressure.
#   scripts/hw_sim_networks.sh MODEL_DIR [OUT_DIR]
# MODEL_DIR holds {lfcW1A1,cnvW1A1,cnvW2A2,...}.lbm (the docs/HARDWARE.md recipes); the
# design folders and logs go to OUT_DIR (default runs/hw_sim). Set NETS to choose networks,
# e.g. NETS="lfcW1A1:20000:10000 cnvW1A1:3000:1000" (network:fps:images).
set -euo pipefail
cd "$(dirname "$0")/.."
L=${LOWBIT:-build/bin/lowbit}
models=${1:?usage: scripts/hw_sim_networks.sh MODEL_DIR [OUT_DIR]}
out=${2:-runs/hw_sim}
nets=${NETS:-"lfcW1A1:20000:10000 cnvW1A1:3000:1000 cnvW2A2:3000:1000 cnvW1A1:10000:1000"}
mkdir -p "$out"
echo "# CPU: $(grep -m1 "model name" /proc/cpuinfo | sed "s/.*: //"), family $(grep -m1 "cpu family" /proc/cpuinfo | sed "s/.*: //"), $(nproc) cores"
echo "# verilator $(verilator --version | cut -d' ' -f2), $(date -u +%Y-%m-%d)"
for spec in $nets; do
  IFS=: read -r net fps images <<< "$spec"
  d="$out/${net}_${fps}fps"
  echo
  echo "## $net, SetFolding for $fps frames/s at 100 MHz, $images images"
  $L hw plan "$models/$net.lbm" --fps "$fps" -o "$d.folding.json" > "$d.plan.txt"
  $L hw rtl "$models/$net.lbm" --folding "$d.folding.json" -o "$d"
  start=$(date +%s)
  $L hw sim "$d" --data fashion-mnist --images "$images" | tee "$d.sim.txt"
  echo "(wall time $(( $(date +%s) - start )) s, including the Verilator builds)"
  echo "### with random back-pressure, 50 images"
  $L hw sim "$d" --data fashion-mnist --images 50 --backpressure --no-stages | tee "$d.bp.txt" | grep -E "Scores|Labels"
done
