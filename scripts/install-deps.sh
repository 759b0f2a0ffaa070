#!/usr/bin/env bash
# Installs what lowbit needs from Debian's packages (as root, or through sudo).
# Only missing packages are installed, so a second run is quick and needs no network.
set -euo pipefail
packages=(cmake g++ make pkg-config libgtest-dev libbenchmark-dev libopenblas-openmp-dev libhwy-dev
          libcli11-dev nlohmann-json3-dev zlib1g-dev dataset-fashion-mnist libdnnl-dev)
# The open hardware tools `lowbit hw rtl|sim|synth` run (docs/HARDWARE.md): Verilator and
# Icarus Verilog simulate the generated Verilog, yosys synthesizes it, nextpnr-ice40 and
# icestorm place and route it for iCE40.
packages+=(verilator iverilog yosys nextpnr-ice40 fpga-icestorm)
# Data-parallel training over MPI (docs/DISTRIBUTED.md): Open MPI's headers and library, and
# mpirun. Optional for the build (CMake's LOWBIT_MPI=AUTO); the tests run 2 ranks with it.
packages+=(libopenmpi-dev openmpi-bin)
# Interop (docs/INTEROP.md): the ONNX project's protobuf classes and C++ checker.
packages+=(libonnx-dev libprotobuf-dev)
# Interop checks (scripts/interop_check.sh, tests/interop): ONNX's Python checker and numpy
# for tools/onnx/check_onnx.py and qonnx_eval.py (run by /usr/bin/python3); Node.js for
# tools/onnx/ort_run.js (ONNX Runtime). npm only when no npm is there: NodeSource's nodejs
# package bundles npm and conflicts with Debian's.
packages+=(python3-onnx python3-numpy nodejs)
command -v npm > /dev/null 2>&1 || packages+=(npm)
# Python module (python/, docs/PYTHON.md): pybind11 and numpy's headers; pytest runs its tests.
packages+=(pybind11-dev python3-dev python3-pytest)
# Images of `lowbit predict` and folder-per-class datasets (docs/DATA.md): stb_image decodes
# PNG, JPEG, PGM/PPM, BMP (libstb-dev). Learning curves of `lowbit plot`: gnuplot.
packages+=(libstb-dev gnuplot-nox)
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
# ONNX Runtime for Node (tools/onnx/ort_run.js): onnxruntime-node from npm, the versions of
# tools/onnx/package-lock.json; its CPU library is inside the package (--ignore-scripts: the
# install script only fetches GPU add-ons). Installed as the invoking user, so the folder is
# theirs; without network the rest of lowbit still builds and its tests skip ORT.
onnx_tools=$(cd "$(dirname "$0")/../tools/onnx" && pwd)
if [ ! -d "$onnx_tools/node_modules/onnxruntime-node" ]; then
  as_user=()
  if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then as_user=(sudo -u "$SUDO_USER"); fi
  echo "installing onnxruntime-node into $onnx_tools/node_modules"
  (cd "$onnx_tools" && "${as_user[@]}" npm ci --ignore-scripts --no-audit --no-fund) ||
    echo "npm could not install onnxruntime-node (no network?): ONNX Runtime checks will be skipped;" \
         "later: (cd tools/onnx && npm ci --ignore-scripts)"
fi
