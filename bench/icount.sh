#!/usr/bin/env bash
# Instruction counts of hup_icount's fixed small cases under valgrind's callgrind: repeatable
# to a fraction of a percent, unlike times on this noisy machine. Writes OUT_DIR/icount.json
# ({case: instructions}), which bench/perfdiff.py compares.
#
#   bench/icount.sh [BUILD_DIR (default ./build)] [OUT_DIR (default BUILD_DIR/bench-results)]
set -euo pipefail
build=${1:-./build}
out=${2:-$build/bench-results}
cmake --build "$build" --target hup_icount >&2
bin=$build/bench/hup_icount
mkdir -p "$out"
json="{"
sep=""
for c in $("$bin" --list); do
  # Only hup_icount_measured() (one call, on one thread) is counted.
  count=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
    --toggle-collect=hup_icount_measured "$bin" "$c" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  [[ -n $count ]] || { echo "icount: no count for $c" >&2; exit 1; }
  echo "$c $count" >&2
  json+="$sep\"$c\": $count"
  sep=", "
done
echo "$json}" >"$out/icount.json"
echo "(written to $out/icount.json)" >&2
