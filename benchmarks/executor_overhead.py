"""Wall time of one grid slice on the local executor and on Ray with N workers, in one run.

    python benchmarks/executor_overhead.py --data ../shared/data [--grid grids/smoke.toml] [--workers 2] [--exact] [--submitit]

Each executor runs the grid cold (fresh output folder and a fresh cache, so both encode, fit and
evaluate everything) in its own `alignbench run --no-mlflow` process. Prints both wall times,
`ratio: X.XX` (Ray over local; below 1 means Ray was faster) and the overhead per cell
((Ray wall - local wall / workers) / cells: what distribution costs beyond ideal speed-up), whether the
two runs wrote the same cells, and how many values are bit-identical: with a real encoder on CPU they
need not be, since which texts share an encoding batch (and how many threads a worker has) follows the
execution order, and batch shapes change float rounding. With `--exact` both executors run
`alignbench run --exact` (one thread, one text per forward pass), whose values must be bit-identical
(exit status 1 otherwise), and a third, default-mode local run measures what exact mode costs
(`exact cost: X.XX` = exact local wall over default local wall). `--submitit` adds a run through
submitit (its local executor where there is no Slurm), compared with the local run the same way. Needs the
`ray` extra (and `slurm` for `--submitit`).
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


def _compare(name: str, local_rows: list[tuple], other_rows: list[tuple]) -> tuple[bool, int]:
    local_by, other_by = ({r[:3]: r[3] for r in rows} for rows in (local_rows, other_rows))
    same_ids = set(local_by) == set(other_by)
    same_values = sum(local_by[k] == other_by.get(k) for k in local_by)
    largest = max((abs(local_by[k] - other_by[k]) for k in local_by if k in other_by), default=0.0)
    print(f"{name} vs local: same cell ids and metrics: {same_ids}; bit-identical values: {same_values} of "
          f"{len(local_by)} rows (largest difference {largest:.3g} points)")
    return same_ids, len(local_by) - same_values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--grid", default="grids/smoke.toml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--exact", action="store_true", help="run the executors in exact mode and require identity")
    parser.add_argument("--submitit", action="store_true", help="also run through submitit (local processes without Slurm)")
    args = parser.parse_args()
    mode = ["--exact"] if args.exact else []
    with tempfile.TemporaryDirectory() as tmp:
        default_local = _run(args.grid, args.data, Path(tmp) / "default", [])[0] if args.exact else None
        local, local_rows = _run(args.grid, args.data, Path(tmp) / "local", mode)
        remote, remote_rows = _run(args.grid, args.data, Path(tmp) / "ray",
                                   ["--executor", "ray", "--workers", str(args.workers), *mode])
        others = {"ray": remote_rows}
        if args.submitit:
            submitit_wall, others["submitit"] = _run(
                args.grid, args.data, Path(tmp) / "submitit",
                ["--executor", "submitit", "--workers", str(args.workers),
                 "--submitit-folder", str(Path(tmp) / "submitit" / "jobs"), *mode])
    cells = len({r[0] for r in local_rows})
    print(f"grid {args.grid}: {cells} cells, cold (fresh cache), {'exact' if args.exact else 'default'} mode")
    verdicts = {name: _compare(name, local_rows, rows) for name, rows in others.items()}
    print(f"local executor: {local:.1f} s")
    print(f"ray, {args.workers} workers: {remote:.1f} s")
    print(f"ratio: {remote / local:.2f} (ray / local)")
    print(f"overhead per cell beyond ideal {args.workers}x speed-up: {(remote - local / args.workers) / cells:.2f} s")
    if args.submitit:
        print(f"submitit, {args.workers} jobs at once: {submitit_wall:.1f} s (ratio {submitit_wall / local:.2f})")
    if default_local is not None:
        print(f"local executor, default mode: {default_local:.1f} s")
        print(f"exact cost: {local / default_local:.2f} (exact local / default local)")
    for name, (same_ids, differing) in verdicts.items():
        if not same_ids:
            raise SystemExit(f"the {name} run planned or wrote other cells than the local run")
        if args.exact and differing:
            raise SystemExit(f"exact mode: {differing} values differ between {name} and local")


if __name__ == "__main__":
    main()
