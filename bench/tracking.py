"""MLflow mirror of results.jsonl: one parent run per grid invocation, one nested run per cell."""

from __future__ import annotations

import os
import re
from pathlib import Path

_BAD_CHARS = re.compile(r"[^\w\-. /:]")


def default_tracking_uri(out_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(out_dir) / 'mlflow.db').resolve()}"


def _clean(name: str) -> str:
    return _BAD_CHARS.sub("_", name)


class NullTracker:
    def start_grid(self, name: str, params: dict) -> None: ...
    def log_cell(self, run_name: str, params: dict, tags: dict, metrics: dict[str, float], failed: bool = False) -> None: ...
    def end_grid(self, failed: bool = False) -> None: ...


class MlflowTracker:
    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path):
        import logging

        from mlflow.tracking import MlflowClient

        logging.getLogger("alembic").setLevel(logging.WARNING)
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
        import time

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
