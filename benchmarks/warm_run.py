"""Fixed cost of the README main job on a fully finished grid (issue 17 target: under 10 s on 2 cores).

Runs `alignbench run` (default grid, MLflow mirror on, as the README gives it) in a fresh process on the
committed results, where every cell is done, and prints its wall time next to the bare start-up of the
command line in the same run (`alignbench methods`: interpreter, imports, registry), with `ratio: X.XX`
(warm run over start-up). The output folder is a copy, so the committed results are not touched.

    python benchmarks/warm_run.py --data ../shared/data [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    alignbench = [sys.executable, "-m", "bench"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        shutil.copytree(REPO / "results", out / "results", ignore=shutil.ignore_patterns("mlflow.db*", "mlartifacts"))
        run = alignbench + ["run", "--grid", str(REPO / "grids" / "default.toml"), "--data", str(Path(args.data).resolve()),
                            "--out", str(out), "--no-progress"]
        first = _timed(run, REPO)  # creates the MLflow database only if a cell runs (none should)
        warm = [_timed(run, REPO) for _ in range(args.repeats)]
        startup = [_timed(alignbench + ["methods"], REPO) for _ in range(args.repeats)]
    print(f"first warm run (fresh output folder): {first:.1f} s")
    print(f"warm run, median of {args.repeats}: {statistics.median(warm):.1f} s  (target < 10 s)")
    print(f"start-up (alignbench methods), median of {args.repeats}: {statistics.median(startup):.1f} s")
    print(f"ratio: {statistics.median(warm) / statistics.median(startup):.2f}")


if __name__ == "__main__":
    main()
