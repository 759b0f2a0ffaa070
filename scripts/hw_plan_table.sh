#!/bin/bash
# The dataflow plans of the five BNN-PYNQ networks on every built-in board (docs/HARDWARE.md,
# "Plans on every board"): `lowbit hw plan --fit` per network and board, as a Markdown
# table of the fps --fit finds, the fastest SetFolding design that fits, and the resources
# used (or why nothing fits).
#   scripts/hw_plan_table.sh [MODEL_DIR]
# Without MODEL_DIR the networks are the 3-channel preset topologies (untrained: a plan needs
# shapes and bit widths only); with it, MODEL_DIR/{lfcW1A1,lfcW1A2,cnvW1A1,cnvW1A2,cnvW2A2}.lbm
# (e.g. the Fashion-MNIST models of the docs/HARDWARE.md recipes).
set -euo pipefail
cd "$(dirname "$0")/.."
L=${LOWBIT:-build/bin/lowbit}
PY=/usr/bin/python3
dir=${1:-}
boards="pynq-z1 ultra96 zc706 kcu1500 u250 ice40hx8k ice40up5k"
declare -A flags=(
  [lfcW1A1]="--model lfc --input 1 28 28 --weights binary --acts binary --input-bits 1"
  [lfcW1A2]="--model lfc --input 1 28 28 --weights binary --acts ternary:0.5 --input-bits 1"
  [cnvW1A1]="--model cnv --input 3 32 32 --weights binary --acts binary --input-quantizer fixed:8,7:signed --last-bn tensor"
  [cnvW1A2]="--model cnv --input 3 32 32 --weights binary --acts ternary:0.5 --input-quantizer fixed:8,7:signed --last-bn tensor"
  [cnvW2A2]="--model cnv --input 3 32 32 --weights ternary --acts ternary:0.5 --input-quantizer fixed:8,7:signed --last-bn tensor"
)
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /# CPU: /'
echo "| network | board | --fit fps | SetFolding fps | LUT | BRAM18 / EBR | fits |"
echo "|---|---|---:|---:|---:|---:|---|"
for net in lfcW1A1 lfcW1A2 cnvW1A1 cnvW1A2 cnvW2A2; do
  if [ -n "$dir" ]; then src="$dir/$net.lbm"; else src="${flags[$net]}"; fi
  for b in $boards; do
    # shellcheck disable=SC2086
    # (exit 1 when nothing fits: the JSON still says why)
    { $L hw plan $src --board "$b" --fit --json 2>/dev/null || true; } | $PY -c '
import json, sys
j = json.load(sys.stdin); d = j["device"]; t = j["total"]; f = j["folding_from"]["fit"]
ice = d["EBR"] > 0
mem = "%d / %d" % ((t["EBR"], d["EBR"]) if ice else (t["BRAM_18K"], d["BRAM_18K"]))
why = "yes" if j["fits"] else "no: " + "; ".join(j["over_budget"])
sf = "%.0f" % f["setfolding_fps"] if f["setfolding_fps"] > 0 else "none fits"
fps = "%.0f" % j["fps"] if j["fits"] else "-"
print("| %s | %s | %s | %s | %d / %d | %s | %s |" % (sys.argv[1], sys.argv[2], fps, sf, t["LUT"], d["LUT"], mem, why))
' "$net" "$b"
  done
done
