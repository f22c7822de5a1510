"""Wall time of one grid slice on the local executor and on Ray with N workers, in one run.

    python benchmarks/executor_overhead.py --data ../shared/data [--grid grids/smoke.toml] [--workers 2]

Each executor runs the grid cold (fresh output folder and a fresh cache, so both encode, fit and
evaluate everything) in its own `alignbench run --no-mlflow` process. Prints both wall times,
`ratio: X.XX` (Ray over local; below 1 means Ray was faster) and the overhead per cell
((Ray wall - local wall / workers) / cells: what distribution costs beyond ideal speed-up), whether the
two runs wrote the same cells, and how many values are bit-identical: with a real encoder on CPU they
need not be, since which texts share an encoding batch (and how many threads a worker has) follows the
execution order, and batch shapes change float rounding. Needs the `ray` extra.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(grid: str, data: str, root: Path, extra: list[str]) -> tuple[float, list[tuple]]:
    command = [sys.executable, "-m", "bench", "run", "--grid", grid, "--data", data, "--out", str(root / "out"),
               "--cache", str(root / "cache"), "--no-mlflow", "--no-progress", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (root / "out" / "results" / "results.jsonl").read_text().splitlines()]
    return elapsed, sorted((r["cell_id"], r["metric"], r["subset"], r["value"], r["items"]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--grid", default="grids/smoke.toml")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        local, local_rows = _run(args.grid, args.data, Path(tmp) / "local", [])
        remote, remote_rows = _run(args.grid, args.data, Path(tmp) / "ray",
                                   ["--executor", "ray", "--workers", str(args.workers)])
    cells = len({r[0] for r in local_rows})
    local_by, remote_by = ({r[:3]: r[3] for r in rows} for rows in (local_rows, remote_rows))
    same_ids = set(local_by) == set(remote_by)
    same_values = sum(local_by[k] == remote_by.get(k) for k in local_by)
    largest = max((abs(local_by[k] - remote_by[k]) for k in local_by if k in remote_by), default=0.0)
    overhead = (remote - local / args.workers) / cells
    print(f"grid {args.grid}: {cells} cells, cold (fresh cache); same cell ids and metrics: {same_ids}; "
          f"bit-identical values: {same_values} of {len(local_by)} rows (largest difference {largest:.3g} points)")
    print(f"local executor: {local:.1f} s")
    print(f"ray, {args.workers} workers: {remote:.1f} s")
    print(f"ratio: {remote / local:.2f} (ray / local)")
    print(f"overhead per cell beyond ideal {args.workers}x speed-up: {overhead:.2f} s")
    if not same_ids:
        raise SystemExit("the Ray run planned or wrote other cells than the local run")


if __name__ == "__main__":
    main()
