#!/usr/bin/env bash
# Installs what lowbit needs from Debian's packages (as root, or through sudo).
# Only missing packages are installed, so a second run is quick and needs no network.
set -euo pipefail
packages=(cmake g++ make pkg-config libgtest-dev libbenchmark-dev libopenblas-openmp-dev libhwy-dev
          libcli11-dev nlohmann-json3-dev zlib1g-dev dataset-fashion-mnist)
# The open hardware tools `lowbit hw rtl|sim|synth` run (docs/HARDWARE.md): Verilator and
# Icarus Verilog simulate the generated Verilog, yosys synthesizes it, nextpnr-ice40 and
# icestorm place and route it for iCE40.
packages+=(verilator iverilog yosys nextpnr-ice40 fpga-icestorm)
# Interop (docs/INTEROP.md): the ONNX project's protobuf classes and C++ checker.
packages+=(libonnx-dev libprotobuf-dev)
packages+=("$@")  # extra packages a caller wants (e.g. python3-torch for the PyTorch comparison)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing: ${missing[*]}"
  # apt's _apt sandbox can fail the signature checks here ("gpgv ... required"); as root
  # the update works. A failed update is not fatal: the existing index usually has them.
  $sudo apt-get -o APT::Sandbox::User=root update -qq || echo "apt-get update failed; installing from the existing index"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
