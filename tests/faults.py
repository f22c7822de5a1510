"""Kill trials: run a small grid in a child process, SIGKILL it at a chosen point, resume, compare.

The child (`python -m tests.faults ROOT POINT HIT [--mlflow]`) runs the toy grid below on the
hand-written fixture data with the toy encoder, and kills itself (SIGKILL, no clean-up of any kind)
the HIT-th time it reaches POINT:

- `encode`: inside the encoder, before it returns vectors;
- `cache`: inside an embedding-cache write, after the arrays and before the listing JSON;
- `fit`: inside a method's fit;
- `append`: in the middle of appending a cell's rows (half the bytes written: a torn line);
- `mlflow`: between MLflow creating a cell's run and finishing it;
- `mlflow-init`: while the tracking database is first created (a timer, HIT = milliseconds).

`count` runs the grid to the end and prints how often each point was reached. Used by
tests/test_faults.py (a few trials in CI) and benchmarks/kill_trials.py (as many as asked for).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POINTS = ("encode", "cache", "fit", "append", "mlflow")



def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(point: str, hit: int, counts: Counter) -> None:
    """Wrap the code at `point` so that its `hit`-th call kills the process (hit 0: only count)."""
    import bench.cache
    import bench.results
    import methods.normalization
    import methods.procrustes
    from tests.helpers import ToyEncoder

    def arm(name: str) -> bool:
        counts[name] += 1
        return name == point and counts[name] == hit

    encode = ToyEncoder.encode

    def encode_then_maybe_die(self, *args, **kwargs):
        out = encode(self, *args, **kwargs)
        if arm("encode"):
            _kill()
        return out

    ToyEncoder.encode = encode_then_maybe_die

    def save_then_maybe_die(array_save):
        def wrapped(file, *args, **kwargs):
            array_save(file, *args, **kwargs)
            if str(file).endswith(".tmp.npy") and arm("cache"):
                _kill()
        return wrapped

    bench.cache.np.save = save_then_maybe_die(bench.cache.np.save)

    for cls in (methods.procrustes.Procrustes, methods.normalization.Normalization):
        def fit(self, data, _fit=cls.fit):
            if arm("fit"):
                _kill()
            return _fit(self, data)
        cls.fit = fit

    append = bench.results.locked_append

    def torn_append(path, lines):
        if Path(path).name == "results.jsonl" and arm("append"):
            data = "".join(line + "\n" for line in lines).encode()
            with open(path, "ab") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            _kill()
        append(path, lines)

    bench.results.locked_append = torn_append

    import bench.tracking

    log_cell = bench.tracking.MlflowTracker.log_cell

    def log_then_maybe_die(self, run_name, params, tags, metrics, failed=False):
        if arm("mlflow"):
            self.client.create_run(self.experiment_id, run_name=run_name,
                                   tags={"alignbench.kind": "cell", "alignbench.run_id": self.run_id})
            _kill()
        return log_cell(self, run_name, params, tags, metrics, failed)

    bench.tracking.MlflowTracker.log_cell = log_then_maybe_die


def make_runner(root: Path, mlflow: bool):
    from bench.grid import load_grid
    from bench.runner import Runner, RunOptions
    from tests.helpers import TOY_GRID, ToyEncoder, write_fixture_data

    root = Path(root)
    if not (root / "data").exists():
        write_fixture_data(root / "data")
    (root / "grid.toml").write_text(TOY_GRID)
    tracking = f"sqlite:///{root / 'out' / 'mlflow.db'}" if mlflow else None
    options = RunOptions(data_dir=root / "data", out_dir=root / "out", cache_dir=root / "cache", tracking_uri=tracking,
                         progress=False)
    encoder = ToyEncoder()
    return Runner(load_grid(root / "grid.toml"), options, lambda name, batch: encoder)


def child(root: str, point: str, hit: int, mlflow: bool) -> None:
    counts: Counter = Counter()
    if point == "mlflow-init":
        threading.Timer(hit / 1000, _kill).start()
    else:
        _install(point, hit, counts)
    summary = make_runner(Path(root), mlflow).run()
    print(json.dumps({"counts": counts, "done": summary.done, "failed": summary.failed}))


def run_child(root: Path, point: str, hit: int, mlflow: bool = False, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tests.faults", str(root), point, str(hit)] + (["--mlflow"] if mlflow else [])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def result_rows(root: Path) -> list[dict]:
    from bench.results import read_jsonl

    return read_jsonl(Path(root) / "out" / "results.jsonl")


def values(rows: list[dict]) -> dict:
    return {(r["cell_id"], r["metric"], r["subset"]): r["value"] for r in rows}


def reference(root: Path, mlflow: bool = False) -> tuple[dict, Counter]:
    """An uninterrupted run of the grid (in a child, counting how often each point is reached)."""
    done = run_child(root, "count", 0, mlflow)
    if done.returncode != 0:
        raise RuntimeError(f"reference run failed:\n{done.stderr[-3000:]}")
    return values(result_rows(root)), Counter(json.loads(done.stdout.strip().splitlines()[-1])["counts"])


def trial(workdir: Path, point: str, hit: int, expected: dict, mlflow: bool = False) -> dict:
    """Kill a fresh run at (point, hit), resume it to the end, and compare with the reference values."""
    root = Path(workdir) / f"{point}-{hit}"
    shutil.rmtree(root, ignore_errors=True)
    killed = run_child(root, point, hit, mlflow)
    resumed = run_child(root, "count", 0, mlflow)
    if resumed.returncode != 0:
        return {"point": point, "hit": hit, "killed": killed.returncode == -signal.SIGKILL, "resumed": False,
                "error": resumed.stderr[-2000:]}
    rows = result_rows(root)
    keys = Counter((r["cell_id"], r["metric"], r["subset"]) for r in rows)
    got = values(rows)
    mirror = mirror_state(root, rows) if mlflow else {}  # after the resume, before the third run
    again = run_child(root, "count", 0, mlflow)  # a third run: everything done, caches reusable
    third = json.loads(again.stdout.strip().splitlines()[-1]) if again.returncode == 0 else {"done": -1}
    return {"point": point, "hit": hit, "killed": killed.returncode == -signal.SIGKILL, "resumed": True,
            "lost": len(set(expected) - set(got)), "duplicated": sum(n - 1 for n in keys.values() if n > 1),
            "different": sum(1 for k in expected if k in got and got[k] != expected[k]),
            "third_run_cells": third["done"], "resume_failed_cells": json.loads(resumed.stdout.strip().splitlines()[-1])["failed"],
            **mirror}


def mirror_state(root: Path, rows: list[dict]) -> dict:
    """What the MLflow mirror lacks after a resume: results cells with no FINISHED cell run, runs left
    RUNNING, and journal markers left open."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'out' / 'mlflow.db'}")
    runs = [run for experiment in client.search_experiments() for run in client.search_runs([experiment.experiment_id])]
    finished = {run.data.tags.get("cell_id") for run in runs
                if run.data.tags.get("alignbench.kind") == "cell" and run.info.status == "FINISHED"}
    return {"mirror_missing": len({r["cell_id"] for r in rows} - finished),
            "mirror_running": sum(run.info.status == "RUNNING" for run in runs),
            "journal_open": len(list((root / "out").glob(".mlflow-open-*")))}


def plan_trials(counts: Counter, n: int, seed: int = 0) -> list[tuple[str, int]]:
    """`n` (point, hit) pairs: every point once first, then random ones, each hit within the reference run."""
    rng = random.Random(seed)
    points = [p for p in POINTS if counts[p]]
    chosen = [(p, rng.randint(1, counts[p])) for p in points]
    while len(chosen) < n:
        point = rng.choice(points)
        chosen.append((point, rng.randint(1, counts[point])))
    return chosen[:n]


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]), "--mlflow" in sys.argv[4:])
