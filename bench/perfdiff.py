#!/usr/bin/env python3
"""hup-perfdiff: compares a benchmark run with a baseline and exits 1 on a regression.

Usage:
  perfdiff.py BASELINE CURRENT [--threshold 0.10] [--icount-threshold 0.01]

BASELINE and CURRENT are run directories (scripts/hup-perfdiff's: run*.json, each one
hup_bench process timing hup and its references case by case, and icount.json from
bench/icount.sh) or single JSON files.

The machine is noisy, so absolute times are not compared. Two things are:
  - each hup case's time as a ratio to a reference timed right after it in the same process:
    the copy roofline (interp, inverse) or libtorch (deconv), the best ratio over the run
    files (interference only ever slows a run down). A case regresses when its ratio grew by
    more than --threshold (default 25%: adjacent timings here still move by 10-20%) over the
    baseline's, and improves when it shrank as much;
  - instruction counts of a fixed set of small cases under valgrind's callgrind
    (bench/icount.sh), repeatable to a fraction of a percent: a case regresses when its count
    grew by more than --icount-threshold (default 1%).
Prints a table of the cases beyond a threshold either way, and exits 1 when an instruction
count regressed, or (with --gate-times) a time ratio. On the 2-core VM hup is developed on,
even these same-process ratios moved by up to 90% between two runs of an unchanged tree, so
there they are advisory and the instruction counts decide. Only the standard library.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (bench/report.py: the JSON loader)

REFERENCE = {"interp": "copy", "inverse": "copy", "deconv": "libtorch"}


def json_files(path):
    p = Path(path)
    if p.is_dir():
        return sorted(str(f) for f in p.glob("*.json") if f.name != "icount.json")
    return [str(p)]


def ratios(path):
    """{"suite/case": hup time / reference time}: per run file, then the best over the files."""
    out = {}
    for f in json_files(path):
        _, results, _, _ = report.load([f])
        for (suite, case, lib), r in results.items():
            reference = REFERENCE.get(suite)
            if lib != "hup" or not reference or not r.ok:
                continue
            ref = results.get((suite, case, reference))
            if ref and ref.ok:
                key = f"{suite}/{case}"
                out[key] = min(out.get(key, float("inf")), r.time / ref.time)
    return out


def icounts(path):
    """{"case": instructions} from icount.json in a run directory (absent: none)."""
    p = Path(path)
    f = p / "icount.json" if p.is_dir() else p.with_name("icount.json")
    return json.loads(f.read_text()) if f.exists() else {}


def compare(baseline, current, threshold):
    """Rows (case, baseline, current, change) beyond the threshold, and whether any regressed."""
    rows, regressed = [], False
    for case in sorted(baseline.keys() & current.keys()):
        change = current[case] / baseline[case] - 1
        if abs(change) > threshold:
            rows.append((case, baseline[case], current[case], change))
            regressed |= change > 0
    return rows, regressed


def table(title, rows, fmt):
    lines = [f"### {title}", "", "| case | baseline | current | change | verdict |", "|---|---|---|---|---|"]
    for case, b, c, change in rows:
        lines.append(f"| `{case}` | {fmt(b)} | {fmt(c)} | {change:+.1%} | {'REGRESSED' if change > 0 else 'improved'} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline")
    parser.add_argument("current")
    parser.add_argument("--threshold", type=float, default=0.25, help="relative change of a time ratio (0.25 = 25%%)")
    parser.add_argument("--gate-times", action="store_true", help="a time-ratio regression fails the run too")
    parser.add_argument("--icount-threshold", type=float, default=0.01, help="relative change of an instruction count")
    args = parser.parse_args(argv)

    base_ratios, cur_ratios = ratios(args.baseline), ratios(args.current)
    base_counts, cur_counts = icounts(args.baseline), icounts(args.current)
    compared = len(base_ratios.keys() & cur_ratios.keys()) + len(base_counts.keys() & cur_counts.keys())
    if compared == 0:
        print("perfdiff: nothing to compare (no case measured in both runs)")
        return 2
    ratio_rows, ratio_regressed = compare(base_ratios, cur_ratios, args.threshold)
    count_rows, count_regressed = compare(base_counts, cur_counts, args.icount_threshold)
    lines = [f"perfdiff: {len(base_ratios.keys() & cur_ratios.keys())} time ratios (threshold {args.threshold:.0%}), "
             f"{len(base_counts.keys() & cur_counts.keys())} instruction counts (threshold {args.icount_threshold:.1%})", ""]
    if ratio_rows:
        title = "hup time / reference time (copy or libtorch, same run)" + ("" if args.gate_times else ": advisory")
        lines += table(title, ratio_rows, lambda v: f"{v:.3f}") + [""]
    if count_rows:
        lines += table("instructions (callgrind)", count_rows, lambda v: f"{v:,.0f}") + [""]
    regressed = count_regressed or (args.gate_times and ratio_regressed)
    lines.append("REGRESSION" if regressed else "no regression beyond the thresholds")
    print("\n".join(lines))
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
