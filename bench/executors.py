"""Where a grid's cells run: here (`LocalExecutor`), on a Ray cluster (`RayExecutor`) or through
submitit (Slurm, or local processes where there is no Slurm: `SubmititExecutor`).

The contract: `map(runner, todo)` yields `(resolved cell, CellOutcome)` for every cell of `todo`, in any
order. A worker only computes (`Runner.execute`: fit or load the map or checkpoint, evaluate, check the
items); the driver — the process that called `Runner.run` — is the only one that appends rows, writes
per-item files and errors and logs to MLflow. The caches workers share (embeddings, fitted maps,
checkpoints, heads, word alignments) are content-addressed and written by atomic rename, so two workers
computing the same entry waste work but never corrupt or duplicate it.

Remote workers rebuild the runner from the grid and options (`WorkerSpec`) and plan once per process;
cells travel as ids. Cells that share a checkpoint (a Finetuner's cells, at every layer) or a fitted
map (one method at one layer) travel as one group so the work is not repeated.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

if TYPE_CHECKING:
    from bench.plan import ResolvedCell
    from bench.runner import Runner


@dataclass(frozen=True)
class CellError:
    type: str
    message: str
    traceback: str = ""


@dataclass(frozen=True)
class CellOutcome:
    """What computing one cell gave: its scores (with per-item results) or its error."""

    cell_id: str
    started: str
    finished: str
    scores: tuple = ()
    anchors: dict = field(default_factory=dict)
    fit_seconds: float = 0.0
    eval_seconds: float = 0.0
    error: CellError | None = None
    encoder_calls: int = 0
    encode_seconds: float = 0.0


class Executor(Protocol):
    def map(self, runner: "Runner", todo: list["ResolvedCell"]) -> Iterator[tuple["ResolvedCell", CellOutcome]]: ...


class LocalExecutor:
    """Today's behaviour: every cell in this process, in plan order."""

    def map(self, runner, todo):
        for resolved in todo:
            yield resolved, runner.execute(resolved)


# --- remote execution ---------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs to rebuild the driver's runner (picklable)."""

    grid: object  # bench.grid.GridSpec
    options: object  # bench.runner.RunOptions, with tracking off
    encoder_factory: Callable
    key: str  # one runner per key and worker process

    def runner(self):
        from bench.runner import Runner

        found = _WORKER_RUNNERS.get(self.key)
        if found is None:
            found = _WORKER_RUNNERS[self.key] = Runner(self.grid, self.options, self.encoder_factory)
            found.plan()
        return found


_WORKER_RUNNERS: dict = {}
FAULT_ENV = "ALIGNBENCH_TEST_KILL_WORKER"  # tests: "<cell_id>:<marker file>" kills the worker once on that cell


def run_group(spec: WorkerSpec, cell_ids: list[str]) -> list[CellOutcome]:
    """Worker side: compute these cells of the plan, in order."""
    runner = spec.runner()
    by_id = {c.cell_id: c for c in runner.plan().cells}
    outcomes = []
    for cell_id in cell_ids:
        _maybe_die(cell_id)
        resolved = by_id.get(cell_id)
        if resolved is None:
            outcomes.append(CellOutcome(cell_id, "", "", error=CellError(
                "PlanMismatch", "the worker's plan has no such cell: code, data or grid differ between driver and worker")))
            continue
        outcomes.append(runner.execute(resolved))
    return outcomes


def _maybe_die(cell_id: str) -> None:
    fault = os.environ.get(FAULT_ENV, "")
    if fault and fault.split(":", 1)[0] == cell_id:
        marker = fault.split(":", 1)[1]
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(9)  # a worker dying mid-cell, with nothing cleaned up


def groups(todo: list["ResolvedCell"], max_cells: int = 32) -> list[list["ResolvedCell"]]:
    """Cells that share work, together: a Finetuner's cells (one checkpoint for every layer), otherwise one
    method at one encoder and layer (its fitted maps), cut into chunks of at most `max_cells` for the latter."""
    keyed: dict[tuple, list] = {}
    for resolved in todo:
        cell = resolved.cell
        key = (cell.method.label, cell.encoder) if resolved.trains_encoder else (cell.method.label, cell.encoder, cell.layer)
        keyed.setdefault(key, []).append(resolved)
    out = []
    for key, cells in keyed.items():
        if len(key) == 2:
            out.append(cells)
        else:
            out += [cells[i:i + max_cells] for i in range(0, len(cells), max_cells)]
    return out


def worker_spec(runner) -> WorkerSpec:
    import dataclasses
    import uuid

    options = dataclasses.replace(runner.options, tracking_uri=None, progress=False)
    return WorkerSpec(runner.spec, options, runner.encoder_factory, uuid.uuid4().hex)


def _lost(group, error: BaseException) -> list[tuple]:
    from bench.runner import _now

    failure = CellError(type(error).__name__, f"the worker running this cell's group was lost: {error}"[:2000])
    return [(resolved, CellOutcome(resolved.cell_id, _now(), _now(), error=failure)) for resolved in group]


class RayExecutor:
    """One Ray task per group of cells; results streamed back with ray.wait. `address`: an existing
    cluster ("auto", "ray://host:10001"), else a local one with `num_cpus`. A task whose worker dies is
    retried (`max_retries`); transient errors (`retry_exceptions`) too; a cell's own errors come back as
    its outcome and are recorded, never retried."""

    retry_exceptions = (ConnectionError, TimeoutError)

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_retries: int = 2,
                 cpus_per_task: float = 1.0, gpus_per_training_task: float = 0.5):
        self.address, self.num_cpus, self.max_retries = address, num_cpus, max_retries
        self.cpus_per_task, self.gpus_per_training_task = cpus_per_task, gpus_per_training_task

    def map(self, runner, todo):
        ray = _import("ray", "ray")
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus, include_dashboard=False,
                     log_to_driver=False)
        try:
            spec = ray.put(worker_spec(runner))
            has_gpu = ray.cluster_resources().get("GPU", 0) > 0
            remote = ray.remote(run_group)
            pending = {}
            for group in groups(todo):
                gpus = self.gpus_per_training_task if has_gpu and group[0].trains_encoder else 0
                ref = remote.options(num_cpus=self.cpus_per_task, num_gpus=gpus, max_retries=self.max_retries,
                                     retry_exceptions=list(self.retry_exceptions),
                                     runtime_env={"env_vars": worker_environment()}).remote(spec, [c.cell_id for c in group])
                pending[ref] = group
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                group = pending.pop(done[0])
                try:
                    outcomes = ray.get(done[0])
                except Exception as error:  # the worker died more often than max_retries allows
                    yield from _lost(group, error)
                    continue
                yield from zip(group, outcomes)
        finally:
            if started_here:
                ray.shutdown()


class SubmititExecutor:
    """The same cell groups as submitit jobs (a job array): Slurm where `sbatch` is found, else local
    processes (submitit's "local" cluster). `folder` keeps submitit's logs and pickles."""

    def __init__(self, folder: str, cluster: str | None = None, slurm: dict | None = None, max_parallel: int = 2):
        self.folder, self.cluster, self.slurm, self.max_parallel = folder, cluster, dict(slurm or {}), max_parallel

    def map(self, runner, todo):
        submitit = _import("submitit", "slurm")
        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        if executor.cluster == "slurm":
            executor.update_parameters(slurm_array_parallelism=self.max_parallel, **self.slurm)
        else:
            executor.update_parameters(timeout_min=24 * 60)
        spec = worker_spec(runner)
        batches = groups(todo)
        jobs = executor.map_array(run_group, [spec] * len(batches), [[c.cell_id for c in g] for g in batches])
        by_job = {id(job): group for job, group in zip(jobs, batches)}
        for job in submitit.helpers.as_completed(jobs):
            group = by_job[id(job)]
            try:
                outcomes = job.result()
            except Exception as error:
                yield from _lost(group, error)
                continue
            yield from zip(group, outcomes)


def worker_environment() -> dict[str, str]:
    """The driver's settings a worker needs: alignbench's and the hubs' variables, and an import path
    that finds this checkout and any --method-file folder (a worker may start in another directory)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("ALIGNBENCH", "TQDM", "HF_", "TRANSFORMERS_"))}
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([os.getcwd()] + [p for p in sys.path if p and os.path.isdir(p)]))
    return env


def _import(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise RuntimeError(f"the {module} executor needs {module}: pip install -e \".[{extra}]\"") from None


def make_executor(name: str, address: str | None = None, workers: int | None = None, folder: str | None = None):
    if name == "local":
        return None
    if name == "ray":
        return RayExecutor(address=address, num_cpus=workers)
    if name == "submitit":
        return SubmititExecutor(folder or "submitit-logs", max_parallel=workers or 2)
    raise ValueError(f"unknown executor {name!r} (local, ray or submitit)")
