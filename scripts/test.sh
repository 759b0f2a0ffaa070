#!/usr/bin/env bash
# The whole test suite: install dependencies, build (Release), run every test; then the
# same suite built with AddressSanitizer + UndefinedBehaviorSanitizer.
# The .lbm fuzz driver runs for a bounded time in each build (LOWBIT_FUZZ_SECONDS, 30 s).
# LOWBIT_SKIP_ASAN=1 skips the sanitizer pass (quicker local runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
ctest --test-dir build --output-on-failure -j "$(nproc)"
.ci/fuzz build
if [ "${LOWBIT_SKIP_ASAN:-0}" != "1" ]; then
  scripts/build.sh build-asan -DLOWBIT_SANITIZE=ON -DLOWBIT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 .ci/fuzz build-asan
fi
