#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: every benchmark case with hup,
# libtorch, oneDNN, XNNPACK and OpenCV side by side, printed as a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash bench/run_bench.sh "${HUP_BUILD_DIR:-build}"
