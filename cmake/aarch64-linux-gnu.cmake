# CMake toolchain file: cross-compile for 64-bit ARM Linux with Debian's cross g++
# (package g++-aarch64-linux-gnu) against Debian's arm64 multiarch libraries
# (`dpkg --add-architecture arm64`, then e.g. libhwy-dev:arm64 in /usr/lib/aarch64-linux-gnu).
# Used by scripts/cross-aarch64.sh:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DLOWBIT_KERNELS_ONLY=ON
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Multiarch: find_package / find_library look in /usr/lib/aarch64-linux-gnu (its cmake/
# config files included) and never in the host's /usr/lib/x86_64-linux-gnu. No
# CMAKE_FIND_ROOT_PATH: Debian's arm64 packages live under /, not under a sysroot.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Programs that CMake or CTest run (add_test, gtest discovery) go through user-mode QEMU;
# -L makes it find the cross toolchain's loader and libc.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
