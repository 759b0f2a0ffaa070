#!/usr/bin/env bash
# Cross-builds the bit kernels for 64-bit ARM and runs their tests under user-mode QEMU:
#  1. installs (apt-get, as root or through sudo; only what is missing) Debian's aarch64
#     cross g++, qemu-user and the arm64 builds of Highway, GoogleTest and zlib
#     (`dpkg --add-architecture arm64` first);
#  2. configures build-aarch64/ with cmake/aarch64-linux-gnu.cmake and
#     -DLOWBIT_KERNELS_ONLY=ON (lowbit_core + lowbit_bit_kernels + lowbit_kernel_tests only:
#     no OpenBLAS, nlohmann-json or CLI11) and builds lowbit_kernel_tests;
#  3. runs it with qemu-aarch64: every bit-kernel test on every Highway target this (emulated)
#     CPU supports and the kernels were compiled for, which it prints first. On aarch64 that
#     is NEON alone: the kernels disable SVE on purpose, and Highway compiles no
#     EMU128/SCALAR fallback when NEON is the baseline (add
#     -DCMAKE_CXX_FLAGS=-DHWY_COMPILE_ALL_ATTAINABLE to a build to test SCALAR as well).
# Exits non-zero if anything fails. Arguments go to the test binary (--gtest_filter=...).
# JOBS=N sets the build's parallelism (default: all cores); QEMU_CPU picks the emulated
# CPU (default: qemu's "max", which has SVE/SVE2 - the bit kernels compile no SVE code).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
dir=build-aarch64
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# 1. Packages. cmake/make run on the host; gcc's OpenMP runtime (libgomp) comes with the
# cross compiler; zlib because lowbit_core links it (file_io.cpp). zlib1g-dev:arm64 pulls
# libc6-dev:arm64 and its dependencies; apt may upgrade the host's amd64 copies of such
# Multi-Arch: same libraries (libssl3, libkrb5-3, ...) to the arm64 ones' version.
packages=(cmake make g++-aarch64-linux-gnu qemu-user libhwy-dev:arm64 libgtest-dev:arm64 zlib1g-dev:arm64)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "adding the arm64 architecture to dpkg"
    $sudo dpkg --add-architecture arm64
  fi
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. Configure and build the kernel tests only.
cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DLOWBIT_KERNELS_ONLY=ON -DLOWBIT_BUILD_TESTS=ON >/dev/null
cmake --build "$dir" -j "${JOBS:-$(nproc)}" --target lowbit_kernel_tests
bin=$dir/bin/lowbit_kernel_tests
aarch64-linux-gnu-readelf -h "$bin" | grep -q AArch64 || { echo "error: $bin is not an aarch64 executable" >&2; exit 1; }

# 3. Run it. -L: the loader and libc of the cross toolchain (/usr/aarch64-linux-gnu/lib);
# libhwy.so.1 etc. are found in /usr/lib/aarch64-linux-gnu through /etc/ld.so.cache.
echo "running $bin under $(qemu-aarch64 --version | sed -n 1p)"
status=0
qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" "$@" || status=$?
echo "cross-aarch64: $( ((status == 0)) && echo passed || echo "FAILED (exit $status)") in $((SECONDS - start)) s"
exit "$status"
