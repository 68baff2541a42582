#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${HUP_BUILD_DIR:-build}"
OMP_NUM_THREADS=2 ctest --output-on-failure --parallel 2
