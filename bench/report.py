#!/usr/bin/env python3
"""Merges hup_bench's Google Benchmark JSON (one file per library phase) into markdown tables.

Usage: report.py RESULT.json... [-o report.md]

Benchmarks are named <suite>/<case>/<library>/... (suites: interp, deconv, inverse; deconv/peak/fma_peak
is the FMA peak, not a case); each was run with --benchmark_repetitions, and every time below is
the fastest round's median of the repetitions' real times (a round is one result file: one
process, one library). Only the standard library.
"""
import argparse
import json
import re
import math
import statistics
import sys
from pathlib import Path

PEERS = {"libtorch": "libtorch", "onednn": "oneDNN", "xnnpack": "XNNPACK", "opencv": "OpenCV"}
INVERSE_PEERS = {"libtorch": "libtorch"}
DECONV_PEERS = {"libtorch": "libtorch", "onednn": "oneDNN", "onednn_any": "oneDNN(any)", "xnnpack": "XNNPACK"}
ONEDNN_CONFIGS = ["onednn", "onednn_any"]
PEAK = ("peak", "fma_peak")  # deconv/peak/fma_peak
MS_PER_UNIT = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
NONE = "—"
# How every table's times and spreads are made (bench/run_bench.sh runs the rounds).
TIMING = ("Each library is timed in its own process, once per round (the libraries in turn, in reverse order "
          "every other round), except the copy roofline, which runs in hup's process right after each of hup's "
          "cases (bench/run_bench.sh); a time is the fastest round's median of its repetitions (ms, real time), "
          "since the VM's other tenants only ever slow a round down. ")
SPREAD = ("\"spread\" says how far repeated measurements disagree, for hup and for the worst library of the row: "
          "(max - min) / min of the rounds' medians, or with one round (max - min) / median of its repetitions.")


class Result:
    """One (case, library): its repetitions' times in ms per round (one result file, one process),
    or the error that skipped it."""

    def __init__(self):
        self.rounds, self.error, self.bytes, self.diff = {}, None, None, None
        self.flops, self.peak = None, None  # deconv: flops per call; FMA peak (FLOP/s) measured in-process

    def add(self, round_name, ms):
        self.rounds.setdefault(round_name, []).append(ms)

    @property
    def times(self):
        return [t for ts in self.rounds.values() for t in ts]

    @property
    def ok(self):
        return self.error is None and bool(self.times)

    def round_medians(self):
        return [statistics.median(ts) for ts in self.rounds.values()]

    @property
    def time(self):
        """The fastest round's median: other tenants of the VM only ever slow a round down, and
        every library is measured the same way."""
        return min(self.round_medians())

    @property
    def gflops(self):
        return self.flops / (self.time * 1e-3) / 1e9 if self.ok and self.flops else None

    @property
    def spread(self):
        """How far repeated measurements disagree: with several rounds, (max - min) / min of the
        rounds' medians; with one, (max - min) / median of its repetitions."""
        if len(self.rounds) > 1:
            medians = self.round_medians()
            return (max(medians) - min(medians)) / min(medians)
        return (max(self.times) - min(self.times)) / statistics.median(self.times)


def round_of(path):
    """The round a result file holds: run_bench.sh names them <library>.r<round>.json, so that
    the libraries' files of one round share it; any other file is a round of its own."""
    suffix = Path(path).stem.rpartition(".")[2]
    return suffix if re.fullmatch(r"r\d+", suffix) else str(path)


def load(paths):
    """cases: {suite: [case, ...]} in first-seen order; results: {(suite, case, lib): Result}."""
    cases, results, context, loads = {}, {}, {}, {}
    for path in paths:
        text = Path(path).read_text()
        if not text.strip():
            continue  # a library with no case in the suites run (Google Benchmark writes nothing)
        data = json.loads(text)
        context.update(data.get("context", {}))
        background = Path(path).with_suffix(".background")  # written by run_bench.sh
        if background.exists():
            loads[Path(path).stem] = background.read_text().strip()
        for bench in data.get("benchmarks", []):
            if bench.get("run_type", "iteration") != "iteration":
                continue  # aggregates: recomputed from the repetitions
            suite, case, lib = bench["name"].split("/")[:3]
            if (case, lib) != PEAK and case not in cases.setdefault(suite, []):
                cases[suite].append(case)
            r = results.setdefault((suite, case, lib), Result())
            if bench.get("error_occurred"):
                r.error = bench.get("error_message", "error")
                continue
            r.add(round_of(path), bench["real_time"] * MS_PER_UNIT[bench["time_unit"]])
            r.bytes, r.diff = bench.get("bytes"), bench.get("max_abs_diff", bench.get("max_rel_diff"))
            r.flops, r.peak = bench.get("flops"), bench.get("peak_FLOP/s")
    return cases, results, context, loads


def fmt_ms(t):
    return f"{t:.3f}" if t < 10 else f"{t:.1f}"


def fmt_ratio(x):
    return NONE if x is None else f"{x:.2f}×"


def geomean(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def checks(results, tolerance):
    """matches(result): it agreed with libtorch (checked before timing; -1: not compared);
    cell(case, lib): the table cell of a library's time, flagged when it disagreed."""
    def matches(r):
        return r.diff is None or r.diff < 0 or r.diff <= tolerance

    def cell(case, lib):
        r = results.get((case, lib))
        if r is None:
            return NONE
        if not r.ok:
            return "error"
        return fmt_ms(r.time) + ("" if matches(r) else " ⚠")

    return matches, cell


def result_notes(results, case, peers, matches, diff_label, tolerance):
    """A note for each library of the case that failed or disagreed with libtorch."""
    notes = []
    for lib in ["hup", *peers]:
        r = results.get((case, lib))
        if r and r.error:
            notes.append(f"- `{case}` {lib}: error: {r.error}")
        elif r and not matches(r):
            notes.append(f"- `{case}` {lib}: {diff_label} {r.diff:.3g} > {tolerance:g}")
    return notes


def table_lines(header, rows):
    """A markdown table: the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def behind_line(case, hup, peer_name, peer):
    """A case where hup is slower than its fastest peer, round by round: whether the rounds
    agree that it is behind, or only the luck of the fastest round put it there."""
    rounds = sorted(set(hup.rounds) & set(peer.rounds))
    ahead = sum(statistics.median(hup.rounds[r]) <= statistics.median(peer.rounds[r]) for r in rounds)
    times = lambda r: "/".join(fmt_ms(statistics.median(r.rounds[name])) for name in rounds)
    return (f"- `{case}`: hup {times(hup)} ms, {peer_name} {times(peer)} ms by round "
            f"(hup ahead in {ahead} of {len(rounds)} rounds)")


def build_table(cases, results, context, peers=PEERS, tolerance_key="tolerance"):
    """A memory-bound suite's table (interp, inverse): GB/s and the fraction of the copy roofline.
    With libtorch as the only peer, the "fastest peer" columns are left out."""
    tolerance = float(context.get(tolerance_key, "1e-3"))
    matches, cell = checks(results, tolerance)
    several = len(peers) > 1

    header = ["case", "hup ms", "hup GB/s", "% of copy", *(f"{name} ms" for name in peers.values()),
              *(["fastest peer", "hup vs fastest"] if several else []), "hup vs libtorch", "spread hup / worst"]
    rows, vs_torch, wins, compared, notes, behind = [], [], 0, 0, [], []
    for case in cases:
        hup, copy = results.get((case, "hup")), results.get((case, "copy"))
        valid = {lib: r for lib in peers if (r := results.get((case, lib))) and r.ok and matches(r)}
        fastest = min(valid, key=lambda lib: valid[lib].time, default=None)
        timed = [r for (c, _), r in results.items() if c == case and r.ok]
        row = [f"`{case}`", cell(case, "hup")]
        if hup and hup.ok:
            row.append(f"{hup.bytes / (hup.time * 1e-3) / 1e9:.1f}" if hup.bytes else NONE)
            row.append(f"{100 * copy.time / hup.time:.0f}%" if copy and copy.ok else NONE)
        else:
            row += [NONE, NONE]
        row += [cell(case, lib) for lib in peers]
        ratio = torch_ratio = None
        if hup and hup.ok and fastest:
            ratio = valid[fastest].time / hup.time
            compared += 1
            wins += ratio >= 1
            if ratio < 1:
                behind.append(behind_line(case, hup, peers[fastest], valid[fastest]))
        if hup and hup.ok and "libtorch" in valid:
            torch_ratio = valid["libtorch"].time / hup.time
            vs_torch.append(torch_ratio)
        if several:
            row += [peers[fastest] if fastest else NONE, fmt_ratio(ratio)]
        row.append(fmt_ratio(torch_ratio))
        row.append(f"{100 * hup.spread:.1f}% / {100 * max(r.spread for r in timed):.1f}%"
                   if hup and hup.ok else NONE)
        rows.append(row)
        notes += result_notes(results, case, peers, matches, "max |diff| vs libtorch", tolerance)

    lines = table_lines(header, rows)
    g = geomean(vs_torch)
    lines += ["", f"- geometric-mean speed-up of hup over libtorch: **{fmt_ratio(g)}** over {len(vs_torch)} cases"]
    if several:
        lines.append(f"- hup at least as fast as the fastest peer: **{wins} of {compared}** cases")
    if behind:
        lines += ["", "Behind the fastest peer, round by round (each round's median):", *behind]
    if notes:
        lines += ["", "Flagged (⚠: result differs from libtorch's"
                  + ("; such peers are left out of \"fastest peer\"):" if several else "):"), *notes]
    return lines


def build_deconv_table(cases, results, context):
    """The conv_transpose table; results: {(case, lib): Result} plus the FMA peak under PEAK."""
    tolerance = float(context.get("deconv_tolerance", "1e-4"))
    matches, cell = checks(results, tolerance)

    # The peak: the fma_peak phase's time, else the one hup's process measured for itself.
    fma = results.get(PEAK)
    peak = fma.gflops if fma and fma.ok else None
    peak_source = "deconv/peak/fma_peak, fastest round"
    if peak is None:
        in_process = [r.peak for (c, lib), r in results.items() if lib == "hup" and r.peak]
        peak = statistics.median(in_process) / 1e9 if in_process else None
        peak_source = "measured in hup's process"

    header = ["case", "hup ms", "hup GFLOP/s", "% of FMA peak", *(f"{name} ms" for name in DECONV_PEERS.values()),
              "fastest peer", "hup vs fastest", "hup vs libtorch", "spread hup / worst"]
    rows, vs_torch, notes, behind = [], [], [], []
    wins = compared = onednn_wins = onednn_compared = xnn_close = xnn_compared = 0
    for case in cases:
        hup = results.get((case, "hup"))
        hup_ok = bool(hup and hup.ok)
        peers = {lib: r for lib in DECONV_PEERS if (r := results.get((case, lib))) and r.ok and matches(r)}
        fastest = min(peers, key=lambda lib: peers[lib].time, default=None)
        timed = [r for (c, _), r in results.items() if c == case and r.ok]
        row = [f"`{case}`", cell(case, "hup")]
        if hup_ok and hup.gflops:
            row += [f"{hup.gflops:.1f}", f"{100 * hup.gflops / peak:.0f}%" if peak else NONE]
        else:
            row += [NONE, NONE]
        row += [cell(case, lib) for lib in DECONV_PEERS]
        ratio = torch_ratio = None
        if hup_ok and fastest:
            ratio = peers[fastest].time / hup.time
            compared += 1
            wins += ratio >= 1
            if ratio < 1:
                behind.append(behind_line(case, hup, DECONV_PEERS[fastest], peers[fastest]))
        if hup_ok and "libtorch" in peers:
            torch_ratio = peers["libtorch"].time / hup.time
            vs_torch.append(torch_ratio)
        onednn = [peers[lib].time for lib in ONEDNN_CONFIGS if lib in peers]
        if hup_ok and onednn:
            onednn_compared += 1
            onednn_wins += hup.time <= min(onednn)
        if hup_ok and "xnnpack" in peers:
            xnn_compared += 1
            xnn_close += hup.time <= 1.1 * peers["xnnpack"].time
        row += [DECONV_PEERS[fastest] if fastest else NONE, fmt_ratio(ratio), fmt_ratio(torch_ratio)]
        row.append(f"{100 * hup.spread:.1f}% / {100 * max(r.spread for r in timed):.1f}%" if hup_ok else NONE)
        rows.append(row)
        notes += result_notes(results, case, DECONV_PEERS, matches, "max |diff| / max |libtorch|", tolerance)

    lines = table_lines(header, rows)
    g = geomean(vs_torch)
    lines += ["",
              f"- FP32 FMA peak ({context.get('threads_per_library', '?')} threads): "
              + (f"**{peak:.1f} GFLOP/s** ({peak_source})" if peak else NONE),
              f"- hup at least as fast as the fastest oneDNN configuration (plain or any): "
              f"**{onednn_wins} of {onednn_compared}** cases",
              f"- geometric-mean speed-up of hup over libtorch: **{fmt_ratio(g)}** over {len(vs_torch)} cases",
              f"- 2-D NHWC cases where hup is within 10% of XNNPACK (hup time ≤ 1.1 × XNNPACK's): "
              f"**{xnn_close} of {xnn_compared}**",
              f"- hup at least as fast as the fastest peer: **{wins} of {compared}** cases"]
    if behind:
        lines += ["", "Behind the fastest peer, round by round (each round's median):", *behind]
    if fma and fma.error:
        notes.append(f"- fma_peak: error: {fma.error}")
    if notes:
        lines += ["", "Flagged (⚠: result differs from libtorch's; such peers are left out of \"fastest peer\"):",
                  *notes]
    return lines


GPU_LIBS = {"hup_opencl": "OpenCL", "hup_cuda": "CUDA"}
# The H100's rooflines (the machine the device tool lends): HBM3 bandwidth and FP32 FMA rate.
GPU_BANDWIDTH, GPU_FLOPS = 3.35e12, 60e12


def build_gpu_table(suites, results):
    """hup's GPU variants on device tensors, beside hup and libtorch on the CPU."""
    header = ["case", "hup CPU ms", "libtorch CPU ms", "OpenCL ms", "CUDA ms", "CUDA GB/s or GFLOP/s",
              "% of H100 roofline", "CUDA vs libtorch CPU"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    errors = {}
    for suite, cases in suites.items():
        for case in cases:
            row_results = {lib: results.get((suite, case, lib)) for lib in ("hup", "libtorch", *GPU_LIBS)}
            if not any(row_results[lib] for lib in GPU_LIBS):
                continue
            def ms(lib):
                r = row_results[lib]
                if r is None:
                    return NONE
                if not r.ok:
                    errors.setdefault(GPU_LIBS.get(lib, lib), r.error)
                    return "error" if lib not in GPU_LIBS else "skipped"
                return fmt_ms(r.time) + ("" if r.diff is None or r.diff < 0 or r.diff <= 1e-3 else " ⚠")
            cuda, torch = row_results["hup_cuda"], row_results["libtorch"]
            rate = fraction = speedup = NONE
            if cuda and cuda.ok:
                if cuda.flops:
                    rate = f"{cuda.gflops:.0f} GFLOP/s"
                    fraction = f"{100 * cuda.flops / (cuda.time * 1e-3) / GPU_FLOPS:.1f}% of 60 TFLOP/s"
                elif cuda.bytes:
                    bandwidth = cuda.bytes / (cuda.time * 1e-3)
                    rate = f"{bandwidth / 1e9:.0f} GB/s"
                    fraction = f"{100 * bandwidth / GPU_BANDWIDTH:.1f}% of 3.35 TB/s"
                if torch and torch.ok:
                    speedup = fmt_ratio(torch.time / cuda.time)
            lines.append("| " + " | ".join([f"`{suite}/{case}`", ms("hup"), ms("libtorch"), ms("hup_opencl"),
                                            ms("hup_cuda"), rate, fraction, speedup]) + " |")
    if errors:
        lines += [""] + [f"- {lib}: {error}" for lib, error in errors.items()]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="+", help="hup_bench --benchmark_out files")
    parser.add_argument("-o", "--output", help="also write the report to this .md file")
    args = parser.parse_args()

    cases, results, context, loads = load(args.json)
    if not any(cases.values()):
        sys.exit("report.py: no benchmarks in " + " ".join(args.json))

    def suite_results(suite):
        return {(case, lib): r for (s, case, lib), r in results.items() if s == suite}

    versions = ", ".join(f"{k} {context[k]}" for k in ("libtorch", "onednn", "opencv") if k in context)
    lines = [
        "# hup vs peers (float32)", "",
        f"{context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs ({context.get('cpu', '?')}), "
        f"{context.get('threads_per_library', '?')} threads per library, {context.get('date', '')}; {versions}.",
        *(["CPU busy with other processes just before each phase (should be ~0%): "
           + ", ".join(f"{k} {v}%" for k, v in loads.items()) + "."] if loads else []),
    ]
    if cases.get("interp"):
        lines += [
            "", "## hup::interpolate", "",
            TIMING + "GB/s counts input + output bytes once; \"% of copy\" is a 2-thread memcpy moving as many bytes "
            "divided by hup's time. Ratios are peer time / hup time (> 1: hup faster). " + SPREAD +
            " libtorch allocates its output on every call; the others write into a preallocated one. "
            "— : the peer does not compute PyTorch's result for that case.", "",
            *build_table(cases["interp"], suite_results("interp"), context),
        ]
    if cases.get("deconv"):
        lines += [
            "", "## hup::conv_transpose", "",
            TIMING + "GFLOP/s counts 2 × the true multiply-adds (2·N·C_in·(C_out/groups)·prod(k)·prod(input spatial)); "
            "\"% of FMA peak\" divides it by a 2-thread loop of independent FMAs on the widest vectors the CPU has (AVX-512, else AVX2). Every case has a bias; "
            "weights are PyTorch's contiguous (C_in, C_out/groups, k...). libtorch takes PyTorch's tensors on "
            "every call (whatever weight repacking it does is timed; it also allocates its output); hup "
            "(hup::ConvTransposePlan), oneDNN and XNNPACK pack or reorder the weights into their own layouts once, "
            "outside the timing (oneDNN: format_tag::any); hup's input and output stay in the case's layout and "
            "any relayout it does is timed. oneDNN: input and output plain in the case's "
            "layout; oneDNN(any): in its preferred layouts, the input reordered once, untimed (and the output "
            "back, untimed). XNNPACK: 2-D NHWC only. Ratios are peer "
            "time / hup time (> 1: hup faster). " + SPREAD, "",
            *build_deconv_table(cases["deconv"], suite_results("deconv"), context),
        ]
    if cases.get("inverse"):
        lines += [
            "", "## hup's inverse operators (max_pool with indices, max_unpool, pixel_shuffle/unshuffle, "
            "unfold/fold)", "",
            TIMING + "GB/s counts every input read once and every output written once (indices as int64); \"% of copy\" "
            "is a 2-thread memcpy moving as many bytes divided by hup's time. max_unpool's input is max_pool's "
            "values and indices, fold's input unfold's result. hup and libtorch write into preallocated outputs "
            "(libtorch's out= variants: max_pool*_with_indices_out, max_unpool*_out, im2col_out, col2im_out), "
            "except libtorch's pixel_shuffle/unshuffle, which allocate (their out= variant copies a new tensor). "
            "\"hup vs libtorch\" is libtorch time / hup time (> 1: hup faster). " + SPREAD, "",
            *build_table(cases["inverse"], suite_results("inverse"), context, INVERSE_PEERS, "inverse_tolerance"),
        ]
    gpu_suites = {suite: cs for suite, cs in cases.items()
                  if any((suite, case, lib) in results for case in cs for lib in GPU_LIBS)}
    if gpu_suites:
        lines += [
            "", "## hup on GPUs (device tensors)", "",
            "The GPU variants on tensors already in device memory: the timed call launches the kernels and "
            "waits for them; the copies in and out are not timed (bench/bench_gpu.h). OpenCL runs on PoCL here, "
            "a CPU implementation: those times only show that the variants run. CUDA runs where the device "
            "tool lends an H100; its rates are measured against the H100's HBM bandwidth (memory-bound cases) "
            "or FP32 peak (conv_transpose, counting the true multiply-adds).", "",
            *build_gpu_table(gpu_suites, results),
        ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
