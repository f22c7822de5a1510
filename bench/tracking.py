"""MLflow mirror of results.jsonl: one parent run per grid invocation, one nested run per cell.

results.jsonl is the source of truth; the mirror never blocks the grid. A grid invocation that was
interrupted (kill, Ctrl-C, an MLflow error) leaves a journal marker in the output folder; the next run
closes that invocation's RUNNING runs as KILLED and logs the cells results.jsonl has but the mirror
lacks (`MirrorJournal`, `reconcile`). A tracking store that cannot be opened (for example a SQLite
database left half-migrated by a kill) is moved aside and recreated, and if MLflow still fails, the grid runs without it and says so. `alignbench mlflow-sync` rebuilds the
mirror from results.jsonl. MLflow's telemetry is switched off (its documented opt-out), so a run stays
offline.
"""

from __future__ import annotations

import datetime as dt
import json
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
    healthy = True

    def start_grid(self, name: str, params: dict, run_id: str) -> None: ...
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
        self.run_id = ""

    def start_grid(self, name: str, params: dict, run_id: str) -> None:
        from mlflow.entities import Param

        self.run_id = run_id
        run = self.client.create_run(self.experiment_id, run_name=name,
                                     tags={"alignbench.kind": "grid", "alignbench.run_id": run_id})
        self.parent_id = run.info.run_id
        self.client.log_batch(self.parent_id, params=[Param(_clean(k), str(v)[:6000]) for k, v in params.items()])

    def log_cell(self, run_name: str, params: dict, tags: dict, metrics: dict[str, float], failed: bool = False) -> None:
        from mlflow.entities import Metric, Param

        all_tags = {**tags, "mlflow.parentRunId": self.parent_id, "alignbench.kind": "cell", "alignbench.run_id": self.run_id}
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

    @property
    def healthy(self) -> bool:
        """False once an error disabled the mirror (it then lacks cells this run recorded)."""
        return self.tracker is not None

    def start_grid(self, name: str, params: dict, run_id: str) -> None:
        self._call("start_grid", name, params, run_id)

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


def _log_result_cell(tracker: MlflowTracker, cell_id: str, group: list[dict]) -> None:
    first = group[0]
    tags = {"category": first["category"], "task": first["task"], "language": first["language"],
            "method": first["method_label"], "cell_id": cell_id, "protocol": first["protocol"]}
    params = {"encoder": first["encoder"], "layer": first["layer"], "seed": first["seed"],
              "language": first["language"], "method": first["method_label"], "task": first["task"]}
    metrics = {(f"{r['subset']}/{r['metric']}" if r.get("subset") else r["metric"]): r["value"] for r in group}
    tracker.log_cell(f"{first['method_label']}/{first['task']}/{first['language']}/L{first['layer']}/s{first['seed']}",
                     params, tags, metrics)


def _by_cell(rows: list[dict]) -> dict[str, list[dict]]:
    cells: dict[str, list[dict]] = {}
    for row in rows:
        cells.setdefault(row["cell_id"], []).append(row)
    return cells


def sync_from_results(rows: list[dict], tracking_uri: str, artifact_root: Path, experiment: str) -> tuple[int, int]:
    """Log every cell of `rows` (results.jsonl's latest rows) that `experiment` has no finished run for,
    under one new parent run; close stale RUNNING runs (a killed grid) as KILLED. Returns (logged, present)."""
    quiet_offline_mlflow()
    cells = _by_cell(rows)
    tracker = MlflowTracker(tracking_uri, experiment, artifact_root)
    have = set()
    for run in tracker.client.search_runs([tracker.experiment_id], max_results=50000):
        if run.info.status == "RUNNING":
            tracker.client.set_terminated(run.info.run_id, status="KILLED")
        elif run.data.tags.get("alignbench.kind") == "cell" and run.info.status == "FINISHED":
            have.add(run.data.tags.get("cell_id"))
    missing = {cell: group for cell, group in cells.items() if cell not in have}
    if missing:
        tracker.start_grid("sync-from-results", {"synced_from": "results.jsonl", "cells": len(missing)}, "sync")
        for cell_id, group in sorted(missing.items()):
            _log_result_cell(tracker, cell_id, group)
        tracker.end_grid()
    return len(missing), len(cells) - len(missing)


class MirrorJournal:
    """Grid invocations whose MLflow mirror may be incomplete. A marker (`.mlflow-open-<run_id>.json` in
    the output folder) is written before an invocation's first MLflow call and removed once every cell
    it recorded has been logged; a marker left behind tells the next run to `reconcile` that invocation."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)

    def _path(self, run_id: str) -> Path:
        return self.out_dir / f".mlflow-open-{run_id}.json"

    def open(self, run_id: str, tracking_uri: str, experiment: str) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._path(run_id).with_suffix(".tmp")
        tmp.write_text(json.dumps({"run_id": run_id, "tracking_uri": tracking_uri, "experiment": experiment}))
        os.replace(tmp, self._path(run_id))

    def close(self, run_id: str) -> None:
        self._path(run_id).unlink(missing_ok=True)

    def pending(self) -> list[dict]:
        """Open markers, oldest first; an unreadable one (torn by a kill before its rename) is dropped."""
        entries = []
        for path in sorted(self.out_dir.glob(".mlflow-open-*.json"), key=lambda p: p.stat().st_mtime):
            try:
                entry = json.loads(path.read_text())
                entries.append({"run_id": str(entry["run_id"]), "tracking_uri": str(entry["tracking_uri"]),
                                "experiment": str(entry["experiment"])})
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)
        return entries


def reconcile(rows: list[dict], entry: dict, artifact_root: Path) -> tuple[int, int]:
    """Bring the mirror of one interrupted invocation (a `MirrorJournal` entry) in line with results.jsonl:
    its runs still RUNNING are closed as KILLED, and each cell it recorded (`rows` with its run_id) that
    has no FINISHED run in the experiment is logged under its grid run. Returns (closed, logged)."""
    quiet_offline_mlflow()
    tracker = MlflowTracker(entry["tracking_uri"], entry["experiment"], artifact_root)
    tracker.run_id = entry["run_id"]
    closed, have = 0, set()
    for run in tracker.client.search_runs([tracker.experiment_id], max_results=50000,
                                          filter_string=f"tags.`alignbench.run_id` = '{entry['run_id']}'"):
        kind = run.data.tags.get("alignbench.kind")
        if kind == "grid":
            tracker.parent_id = run.info.run_id
        if run.info.status == "RUNNING":
            tracker.client.set_terminated(run.info.run_id, status="KILLED")
            closed += 1
        elif kind == "cell" and run.info.status == "FINISHED":
            have.add(run.data.tags.get("cell_id"))
    missing = {cell: group for cell, group in _by_cell([r for r in rows if r.get("run_id") == entry["run_id"]]).items()
               if cell not in have}
    if missing and tracker.parent_id is None:  # killed before its grid run was created
        tracker.start_grid(f"reconcile-{entry['run_id']}", {"reconciled_from": "results.jsonl"}, entry["run_id"])
        tracker.end_grid(failed=True)
    for cell_id, group in sorted(missing.items()):
        _log_result_cell(tracker, cell_id, group)
    return closed, len(missing)
