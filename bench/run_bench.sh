#!/usr/bin/env bash
# Times hup_bench one library at a time and prints the markdown tables that bench/report.py makes.
#
#   bench/run_bench.sh [BUILD_DIR (default ./build)] [OUT_DIR (default BUILD_DIR/bench-results)]
#
# Each library runs in its own process (--benchmark_filter='/<lib>/', every suite: interp/,
# deconv/ and inverse/, which has only hup, libtorch and copy) so that the thread pools (OpenMP
# for libtorch, oneDNN, the copy and the FMA peak; Halide's for hup; pthreadpool; OpenCV's) never
# compete for the cores; and every library runs once per round. The copy roofline is the
# exception: it runs in hup's process, each case's copy right after hup's, since the VM's memory
# changes speed from one minute to the next and "% of copy" compares the two. Writes OUT_DIR/<lib>.r<round>.json,
# OUT_DIR/<lib>.r<round>.log (console output and the checks against libtorch) and OUT_DIR/report.md.
# Environment: HUP_BENCH_LIBS (default "hup libtorch onednn onednn_any xnnpack opencv copy fma_peak
# hup_opencl hup_cuda"; the GPU ones on device tensors, bench/bench_gpu.h),
# HUP_BENCH_ROUNDS (2), HUP_BENCH_REPETITIONS (3), HUP_BENCH_MIN_TIME (0.5 s per repetition),
# HUP_BENCH_SLEEP (3 s before each phase, also used to measure whether other processes are
# busy), HUP_BENCH_ARGS
# (more Google Benchmark flags), HUP_BENCH_SUITES (a regex of suites to run, e.g. "interp" or
# "deconv|inverse"; default all).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-./build}
out=${2:-$build/bench-results}
libs=(${HUP_BENCH_LIBS:-hup libtorch onednn onednn_any xnnpack opencv copy fma_peak hup_opencl hup_cuda})

# Build (or configure and build) the benchmark; a no-op when it is up to date.
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DHUP_BUILD_BENCH=ON >&2
fi
cmake --build "$build" --target hup_bench >&2
bin=$build/bench/hup_bench
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.background "$out"/*.log

# Sleeps $1 seconds and prints the percentage of CPU time used meanwhile (by other processes:
# this script and the benchmark are idle).
background_busy() {
  local a b i total=0 idle
  read -ra a < <(grep '^cpu ' /proc/stat)
  sleep "$1"
  read -ra b < <(grep '^cpu ' /proc/stat)
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done  # user..steal
  idle=$((b[4] + b[5] - a[4] - a[5]))                                 # idle + iowait
  echo $((total > 0 ? 100 * (total - idle) / total : 0))
}

export OMP_NUM_THREADS=2  # oneDNN (Debian's uses OpenMP), libtorch and the copy
# One phase: library $1 in round $2, into $out/$1.r$2.json.
run_phase() {
  local lib=$1 name=$1.r$2 busy
  busy=$(background_busy "${HUP_BENCH_SLEEP:-3}")
  echo "$busy" >"$out/$name.background"
  echo "== $lib, round $2 (CPU busy with other processes: $busy%)" >&2
  ((busy < 10)) || echo "warning: other processes are using the CPUs, timings will be noisy" >&2
  # Libraries timed without OpenMP still call libtorch once per case (the check): passive
  # OpenMP threads then sleep instead of spinning on the cores those libraries time on.
  # (The OpenMP libraries keep libgomp's default.)
  # hup with the copy keeps libgomp's default too: the copy's threads then spin between its
  # calls as in a phase of its own (passive, each call waited for them to wake: 0.28 against
  # 0.22 ms on 1x64x256x256's bytes), and sleep again long before hup's next case is timed.
  local wait_policy=() filter=$lib
  [[ $lib == hup && $copy_with_hup == 1 ]] && filter="(hup|copy)"
  case $filter in hup | hup_opencl | hup_cuda | xnnpack | opencv) wait_policy=(env OMP_WAIT_POLICY=PASSIVE) ;; esac
  "${wait_policy[@]}" "$bin" --benchmark_filter="^(${HUP_BENCH_SUITES:-[a-z]+})/[^/]+/$filter/" \
    --benchmark_repetitions="${HUP_BENCH_REPETITIONS:-3}" \
    --benchmark_min_time="${HUP_BENCH_MIN_TIME:-0.5}" \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    ${HUP_BENCH_ARGS:-} >"$out/$name.log" 2>&1 || { cat "$out/$name.log" >&2; exit 1; }
  grep -E '^(WARNING|ERROR)' "$out/$name.log" >&2 || true
}

# The copy runs in hup's phase when both are asked for (see above).
copy_with_hup=0
if [[ " ${libs[*]} " == *" hup "* && " ${libs[*]} " == *" copy "* ]]; then
  copy_with_hup=1
  kept=()
  for lib in "${libs[@]}"; do [[ $lib == copy ]] || kept+=("$lib"); done
  libs=("${kept[@]}")
fi

# Rounds: every library once per round, in reverse order every other round, so that a slow
# spell of the VM (its other tenants) lands on different libraries; report.py takes each
# library's fastest round.
rounds=${HUP_BENCH_ROUNDS:-2}
jsons=()
for ((round = 1; round <= rounds; round++)); do
  order=("${libs[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#libs[@]} - 1; i >= 0; i--)); do order+=("${libs[i]}"); done
  fi
  for lib in "${order[@]}"; do
    run_phase "$lib" "$round"
    jsons+=("$out/$lib.r$round.json")
  done
done

python3 "$root/bench/report.py" "${jsons[@]}" -o "$out/report.md"
echo "(written to $out/report.md)" >&2
