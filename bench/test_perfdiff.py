#!/usr/bin/env python3
"""Checks perfdiff.py's logic on synthetic Google Benchmark JSON (run by ctest as perfdiff_logic)."""
import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perfdiff  # noqa: E402


def write_run(directory, times, counts=None, name="run1"):
    """A run directory with one run file, times {(suite, case, lib): [ms, ...]}."""
    directory.mkdir(parents=True, exist_ok=True)
    benchmarks = [{"name": f"{suite}/{case}/{lib}/real_time", "run_type": "iteration", "real_time": t, "time_unit": "ms"}
                  for (suite, case, lib), reps in times.items() for t in reps]
    (directory / f"{name}.json").write_text(json.dumps({"context": {}, "benchmarks": benchmarks}))
    if counts is not None:
        (directory / "icount.json").write_text(json.dumps(counts))
    return str(directory)


def run(hup_a, copy_a, hup_b, copy_b, torch=(2.0, 2.0), counts=(None, None), gate_times=True):
    """perfdiff's exit code for a baseline and a current run of two cases."""
    with tempfile.TemporaryDirectory() as tmp:
        base = write_run(Path(tmp) / "base", {("interp", "a", "hup"): [hup_a], ("interp", "a", "copy"): [copy_a],
                                              ("deconv", "d", "hup"): [1.0], ("deconv", "d", "libtorch"): [torch[0]]},
                         counts[0])
        cur = write_run(Path(tmp) / "cur", {("interp", "a", "hup"): [hup_b], ("interp", "a", "copy"): [copy_b],
                                            ("deconv", "d", "hup"): [1.0], ("deconv", "d", "libtorch"): [torch[1]]},
                        counts[1])
        return perfdiff.main([base, cur] + (["--gate-times"] if gate_times else []))


class PerfDiffTest(unittest.TestCase):
    def test_unchanged_passes(self):
        self.assertEqual(run(1.0, 0.8, 1.0, 0.8), 0)

    def test_noise_below_threshold_passes(self):
        # The whole machine 30% slower in the current run, and hup's ratio 15% worse: noise.
        self.assertEqual(run(1.0, 0.8, 1.3 * 1.15, 0.8 * 1.3), 0)

    def test_regression_is_caught(self):
        # Same machine speed (the copy), hup 40% slower.
        self.assertEqual(run(1.0, 0.8, 1.4, 0.8), 1)

    def test_regression_against_libtorch_is_caught(self):
        self.assertEqual(run(1.0, 0.8, 1.0, 0.8, torch=(2.0, 1.5)), 1)

    def test_best_run_counts(self):
        # A second current run where interference slowed hup: the better run decides.
        with tempfile.TemporaryDirectory() as tmp:
            base = write_run(Path(tmp) / "base", {("interp", "a", "hup"): [1.0], ("interp", "a", "copy"): [1.0]})
            cur = Path(tmp) / "cur"
            write_run(cur, {("interp", "a", "hup"): [1.05], ("interp", "a", "copy"): [1.0]}, name="run1")
            write_run(cur, {("interp", "a", "hup"): [2.0], ("interp", "a", "copy"): [1.0]}, name="run2")
            self.assertEqual(perfdiff.main([base, str(cur), "--gate-times"]), 0)

    def test_time_regression_is_advisory_by_default(self):
        self.assertEqual(run(1.0, 0.8, 1.4, 0.8, gate_times=False), 0)

    def test_improvement_passes(self):
        self.assertEqual(run(1.0, 0.8, 0.7, 0.8), 0)

    def test_instruction_count_regression_is_caught(self):
        self.assertEqual(run(1.0, 0.8, 1.0, 0.8, counts=({"interp_small": 1_000_000}, {"interp_small": 1_020_000})), 1)

    def test_instruction_count_noise_passes(self):
        self.assertEqual(run(1.0, 0.8, 1.0, 0.8, counts=({"interp_small": 1_000_000}, {"interp_small": 1_003_000})), 0)


if __name__ == "__main__":
    unittest.main()
