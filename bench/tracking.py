"""MLflow mirror of results.jsonl: one parent run per grid invocation, one nested run per cell.

results.jsonl is the source of truth; the mirror never blocks the grid. A tracking store that cannot
be opened (for example a SQLite database left half-migrated by a kill) is moved aside and recreated,
and if MLflow still fails, the grid runs without it and says so. `alignbench mlflow-sync` rebuilds the
mirror from results.jsonl. MLflow's telemetry is switched off (its documented opt-out), so a run stays
offline.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from pathlib import Path

_BAD_CHARS = re.compile(r"[^\w\-. /:]")


def default_tracking_uri(out_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(out_dir) / 'mlflow.db').resolve()}"


def quiet_offline_mlflow() -> None:
    """No telemetry, no INFO chatter (alembic migrations, store set-up) in our output."""
    import logging

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow configures its logger
    import mlflow  # noqa: F401  (configures the "mlflow" logger; quieten it afterwards too)

    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _clean(name: str) -> str:
    return _BAD_CHARS.sub("_", name)


class NullTracker:
    warnings: list[str] = []

    def start_grid(self, name: str, params: dict) -> None: ...
    def log_cell(self, run_name: str, params: dict, tags: dict, metrics: dict[str, float], failed: bool = False) -> None: ...
    def end_grid(self, failed: bool = False) -> None: ...


class MlflowTracker:
    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path):
        quiet_offline_mlflow()
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.tracking_uri = tracking_uri
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment, artifact_location=Path(artifact_root).resolve().as_uri())
        self.parent_id: str | None = None

    def start_grid(self, name: str, params: dict) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=name, tags={"alignbench.kind": "grid"})
        self.parent_id = run.info.run_id
        self.client.log_batch(self.parent_id, params=[Param(_clean(k), str(v)[:6000]) for k, v in params.items()])

    def log_cell(self, run_name: str, params: dict, tags: dict, metrics: dict[str, float], failed: bool = False) -> None:
        from mlflow.entities import Metric, Param

        all_tags = {**tags, "mlflow.parentRunId": self.parent_id, "alignbench.kind": "cell"}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags={k: str(v) for k, v in all_tags.items() if v is not None})
        now = int(time.time() * 1000)
        self.client.log_batch(
            run.info.run_id,
            metrics=[Metric(_clean(k), float(v), now, 0) for k, v in metrics.items()],
            params=[Param(_clean(k), str(v)[:6000]) for k, v in params.items()],
        )
        self.client.set_terminated(run.info.run_id, status="FAILED" if failed else "FINISHED")

    def end_grid(self, failed: bool = False) -> None:
        if self.parent_id:
            self.client.set_terminated(self.parent_id, status="FAILED" if failed else "FINISHED")


class GuardedTracker:
    """Forwards to a tracker until it raises once; then warns and stops mirroring (the grid goes on)."""

    def __init__(self, tracker, warnings: list[str] | None = None):
        self.tracker, self.warnings = tracker, list(warnings or [])

    def _call(self, name: str, *args, **kwargs) -> None:
        if self.tracker is None:
            return
        try:
            getattr(self.tracker, name)(*args, **kwargs)
        except Exception as error:  # the mirror is optional; results.jsonl already has the rows
            self.tracker = None
            self.warnings.append(f"MLflow mirror disabled after an error ({type(error).__name__}: {str(error)[:300]}); "
                                 "results.jsonl has every result; `alignbench mlflow-sync` rebuilds the mirror")

    def start_grid(self, name: str, params: dict) -> None:
        self._call("start_grid", name, params)

    def log_cell(self, run_name: str, params: dict, tags: dict, metrics: dict[str, float], failed: bool = False) -> None:
        self._call("log_cell", run_name, params, tags, metrics, failed=failed)

    def end_grid(self, failed: bool = False) -> None:
        self._call("end_grid", failed=failed)


def _sqlite_path(tracking_uri: str) -> Path | None:
    return Path(tracking_uri[len("sqlite:///"):]) if tracking_uri.startswith("sqlite:///") else None


def open_tracker(tracking_uri: str, experiment: str, artifact_root: Path) -> GuardedTracker:
    """An MLflow tracker that cannot break the grid. A local SQLite store that fails to open is moved
    aside (`mlflow.db.broken-<time>`) and created afresh once; any other failure disables the mirror."""
    warnings: list[str] = []
    try:
        return GuardedTracker(MlflowTracker(tracking_uri, experiment, artifact_root))
    except Exception as error:
        first = f"{type(error).__name__}: {str(error)[:300]}"
    database = _sqlite_path(tracking_uri)
    if database is not None and database.exists():
        aside = database.with_name(f"{database.name}.broken-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}")
        shutil.move(database, aside)
        warnings.append(f"the MLflow database {database} could not be opened ({first}); moved it to {aside.name} and "
                        "started a new one (`alignbench mlflow-sync` refills it from results.jsonl)")
        try:
            return GuardedTracker(MlflowTracker(tracking_uri, experiment, artifact_root), warnings)
        except Exception as error:
            first = f"{type(error).__name__}: {str(error)[:300]}"
    warnings.append(f"MLflow mirror disabled: cannot open {tracking_uri} ({first}); results.jsonl has every result")
    return GuardedTracker(None, warnings)


def sync_from_results(rows: list[dict], tracking_uri: str, artifact_root: Path, experiment: str) -> tuple[int, int]:
    """Log every cell of `rows` (results.jsonl's latest rows) that `experiment` has no finished run for,
    under one new parent run; close stale RUNNING runs (a killed grid) as KILLED. Returns (logged, present)."""
    quiet_offline_mlflow()
    cells: dict[str, list[dict]] = {}
    for row in rows:
        cells.setdefault(row["cell_id"], []).append(row)
    tracker = MlflowTracker(tracking_uri, experiment, artifact_root)
    have = set()
    for run in tracker.client.search_runs([tracker.experiment_id], max_results=50000):
        if run.info.status == "RUNNING":
            tracker.client.set_terminated(run.info.run_id, status="KILLED")
        elif run.data.tags.get("alignbench.kind") == "cell" and run.info.status == "FINISHED":
            have.add(run.data.tags.get("cell_id"))
    missing = {cell: group for cell, group in cells.items() if cell not in have}
    if missing:
        tracker.start_grid("sync-from-results", {"synced_from": "results.jsonl", "cells": len(missing)})
        for cell_id, group in sorted(missing.items()):
            first = group[0]
            tags = {"category": first["category"], "task": first["task"], "language": first["language"],
                    "method": first["method_label"], "cell_id": cell_id, "protocol": first["protocol"]}
            params = {"encoder": first["encoder"], "layer": first["layer"], "seed": first["seed"],
                      "language": first["language"], "method": first["method_label"], "task": first["task"]}
            metrics = {(f"{r['subset']}/{r['metric']}" if r.get("subset") else r["metric"]): r["value"] for r in group}
            tracker.log_cell(f"{first['method_label']}/{first['task']}/{first['language']}/L{first['layer']}/s{first['seed']}",
                             params, tags, metrics)
        tracker.end_grid()
    return len(missing), len(cells) - len(missing)
