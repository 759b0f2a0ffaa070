#!/usr/bin/env bash
# The whole test suite: install dependencies, build (Release), run every test; then the
# same suite built with AddressSanitizer + UndefinedBehaviorSanitizer.
# The .lbm fuzz driver runs for a bounded time in each build (LOWBIT_FUZZ_SECONDS, 30 s).
# LOWBIT_SKIP_ASAN=1 skips the sanitizer pass (quicker local runs).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
phase() { printf '== %s (%d min %02d s into the run)\n' "$1" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }
phase "installing dependencies"
scripts/install-deps.sh
phase "Release build"
scripts/build.sh build
phase "Release tests"
ctest --test-dir build --output-on-failure -j "$(nproc)"
.ci/fuzz build
if [ "${LOWBIT_SKIP_ASAN:-0}" != "1" ]; then
  # -O1 -g1, as AddressSanitizer's documentation advises: exact stack traces with file and
  # line, and half the compile time of -O2 -g (the sanitizer build is the CI's longest step).
  phase "sanitizer build"
  scripts/build.sh build-asan -DLOWBIT_SANITIZE=ON -DLOWBIT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  phase "sanitizer tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 .ci/fuzz build-asan
fi
phase "done"
