#!/usr/bin/env bash
# Installs the Debian packages hup needs, skipping those already present (valgrind and gnuplot
# serve the regression runs and the tuning report).
# Safe to run repeatedly; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libhalide14-0-dev llvm-14 python3
  libtorch-dev python3-torch
  libdnnl-dev
  libopencv-dev
  pocl-opencl-icd ocl-icd-opencl-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libxnnpack-dev libpthreadpool-dev
  libopenblas0-pthread
  valgrind gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
