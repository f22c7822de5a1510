"""Kill trials at scale: SIGKILL the toy grid at N points (every fault point first, then random ones),
resume each, and print how many rows were lost, duplicated or changed (issue 11; CI runs a few of these
in tests/test_faults.py); with --mlflow also what the MLflow mirror lacks after the resume (issue 17).

    python benchmarks/kill_trials.py [--trials 20] [--seed 0] [--mlflow]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults import plan_trials, reference, trial  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mlflow", action="store_true", help="mirror to MLflow too (adds the 'mlflow' kill point)")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        expected, counts = reference(Path(tmp) / "reference", args.mlflow)
        print(f"reference: {len(expected)} rows; points reached: {dict(counts)}")
        totals = {"killed": 0, "resumed": 0, "lost": 0, "duplicated": 0, "different": 0, "third_run_cells": 0,
                  "mirror_missing": 0, "mirror_running": 0, "journal_open": 0}
        for point, hit in plan_trials(counts, args.trials, args.seed):
            outcome = trial(Path(tmp), point, hit, expected, args.mlflow)
            print(f"  {point:<7} hit {hit:>3}: " + ", ".join(f"{k} {v}" for k, v in outcome.items() if k not in ("point", "hit")))
            for key in totals:
                totals[key] += int(outcome.get(key, 0))
    print(f"{args.trials} trials in {time.perf_counter() - start:.0f} s: killed {totals['killed']}, resumed "
          f"{totals['resumed']}, rows lost {totals['lost']}, duplicated {totals['duplicated']}, changed "
          f"{totals['different']}, cells re-run by a third run {totals['third_run_cells']}"
          + (f"; MLflow after the resume: cells missing {totals['mirror_missing']}, runs left RUNNING "
             f"{totals['mirror_running']}, journal markers open {totals['journal_open']}" if args.mlflow else ""))
    bad = sum(totals[k] for k in ("lost", "duplicated", "different", "third_run_cells", "mirror_missing",
                                  "mirror_running", "journal_open"))
    return 0 if bad == 0 and totals["resumed"] == args.trials else 1


if __name__ == "__main__":
    raise SystemExit(main())
