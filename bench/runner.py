"""The grid runner, in four explicit stages: plan, build encoders, evaluate, record."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import platform
import subprocess
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bench import __version__
from bench.alignment import AlignedEncoder, AlignmentData, MissingResourceError, canonical_json, fitted_state, restore_state
from bench.anchors import TextPairs, anchor_texts, evaluation_texts
from bench.artifacts import ArtifactStore
from bench.cache import CachedEncoder, EmbeddingCache, sweep_temporary
from bench.encoders.base import Encoder, trainable_model
from bench.encoders.transformers_encoder import TransformersEncoder
from bench.executors import CellError, CellOutcome, Executor, LocalExecutor
from bench.finetune import CheckpointStore, TrainableModel, TrainingData
from bench.grid import GridSpec, expand, instantiate, task_layers
from bench.items import ItemStore
from bench.languages import PIVOT
from bench.plan import ResolvedCell, resolve, staleness, training_languages
from bench.registry import Registry, load_registry
from bench.results import ErrorRow, ResultRow, ResultStore, latest_groups, read_jsonl, superseded_cells
from bench.specs import AnchorRequest, EncodeSpec, Resource, Unit
from bench.taskapi import TaskContext
from bench.tracking import MirrorJournal, NullTracker, open_tracker, reconcile

EncoderFactory = Callable[[str, int], Encoder]


@dataclass(frozen=True)
class RunOptions:
    data_dir: Path
    out_dir: Path
    cache_dir: Path
    tracking_uri: str | None = None  # None: no MLflow mirror
    extra_files: tuple[str, ...] = ()
    progress: bool = True
    threads: int | None = None  # CPU threads of torch and BLAS in every process that computes cells
    # Bit-reproducible values whatever the executor or execution order: one thread, one text per forward
    # pass (float rounding of a batched pass depends on its shape and its neighbours). Several times slower.
    exact: bool = False

    def __post_init__(self):
        if self.exact:
            if self.threads not in (None, 1):
                raise ValueError(f"exact runs use one thread; got threads={self.threads}")
            object.__setattr__(self, "threads", 1)

    def batch_size(self, grid_batch_size: int) -> int:
        """The encoding batch size cells use: the grid's, or 1 in an exact run."""
        return 1 if self.exact else grid_batch_size


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """At most `threads` CPU threads for torch and for the BLAS/OpenMP pools numpy and scipy use (a Ray worker
    and the local process otherwise differ: Ray sets OMP_NUM_THREADS to a task's CPUs). None: leave as is."""
    if not threads:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)


@dataclass
class RunSummary:
    planned: int = 0
    skipped: int = 0  # finished and current (same code and data digests)
    done: int = 0
    failed: int = 0
    not_applicable: int = 0  # cells that cannot run with this encoder, method and data (never executed)
    stale: dict[str, int] = field(default_factory=dict)  # finished cells run again, by reason (code / data / ...)
    superseded: int = 0  # finished cells of older versions that planned cells replace (see `alignbench prune`)
    encoder_calls: int = 0
    encode_seconds: float = 0.0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    not_applicable_reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


OUTPUT_FOLDERS = ("results", "leaderboard")  # what a run writes: changes there do not make the code dirty


def _git_sha(root: Path = Path(__file__).resolve().parents[1]) -> str:
    """The commit the harness runs from, with "-dirty" when tracked files outside the output folders
    have uncommitted changes (a run rewrites results/ before it records this)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()

    try:
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                      *(f":(exclude){folder}" for folder in OUTPUT_FOLDERS))
        return git("rev-parse", "HEAD") + ("-dirty" if changed else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def _versions() -> dict:
    import torch
    import transformers

    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__}


def word_anchor_vectors(base: Encoder, text_pairs: TextPairs, lang: str, layer: int, budget: int,
                        cache_dir: Path | None) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
    """Token-level anchors: one-to-one word links of the word-aligned sentence pairs (a fixed sample of at
    most `budget`), each word's first-sub-token vector in its sentence (Aldarmaki & Diab 2019; Wang et
    al. 2019; Zhao & Eger 2022)."""
    from bench.wordalign import align, link_vectors

    corpus = align(text_pairs.pairs, lang, PIVOT, cache_dir)
    links = corpus.word_pairs()
    if not links:
        raise MissingResourceError(f"no one-to-one word links in the {lang}-{PIVOT} parallel data")
    if len(links) > budget:
        links = [links[i] for i in np.sort(np.random.default_rng(0).choice(len(links), budget, replace=False))]
    X, Y, kept = link_vectors(base, corpus, links, layer)
    provenance = {**text_pairs.provenance(), "word_pairs": int(kept.sum()),
                  "alignment": f"eflomal + grow-diag-final-and, key {corpus.key}"}
    return (X, Y), provenance


def token_sample(base: Encoder, sentences: list[str], lang: str, layer: int, max_vectors: int) -> np.ndarray:
    """Unpaired contextual token states (special tokens dropped) of `sentences`, a fixed random sample of at
    most `max_vectors` in shuffled order (anchor-free methods treat the first rows as their dictionary pool)."""
    from bench.wordvectors import content_tokens

    per_text, _ = content_tokens(base, sentences, lang, layer)
    states = np.concatenate([t for t in per_text if len(t)])
    order = np.random.default_rng(0).permutation(len(states))[:max_vectors]
    return states[order]


def guarded_texts(options: RunOptions, registry: Registry, resolved: ResolvedCell) -> dict[tuple[AnchorRequest, str], TextPairs]:
    """The texts behind each of the cell's anchor requests, for every language the request is read for
    (`plan.training_languages`), after the leakage filter. The guard covers every registered task, not
    only this grid's: anchors (and so every fitted map or checkpoint) must not depend on which tasks a
    grid happens to list."""
    banned = evaluation_texts(options.data_dir, registry, options.cache_dir)
    return {(request, lang): anchor_texts(request.resource, options.data_dir, lang, request.budget, banned)
            for request in resolved.requests
            for lang in training_languages(resolved.method, request, resolved.languages, options.data_dir)}


def check_items_reproduce(task: str, language: str, score) -> None:
    """A score's per-item outcomes must give back the score, or every interval built on them is wrong."""
    from bench.stats import value

    if score.items is None:
        return
    recomputed = value(score.items)
    if not np.isclose(recomputed, score.value, rtol=1e-6, atol=1e-6):
        raise ValueError(f"task {task} ({language}): its items give {score.metric} = {recomputed:.6f} but it reported "
                         f"{score.value:.6f}; the items do not describe the score")


def texts_digests(texts: dict[tuple[AnchorRequest, str], TextPairs]) -> dict[str, str]:
    """sha256 of each request's texts, for content-addressed keys."""
    return {f"{r.resource.value}:{lang}": t.digest() for (r, lang), t in texts.items()}


class AlignerBuilder:
    """Stage 2: embed an aligner's training data with the base encoder (cached), fit, store the state."""

    def __init__(self, options: RunOptions, artifacts: ArtifactStore, registry: Registry):
        self.options, self.artifacts, self.registry = options, artifacts, registry

    def build(self, resolved: ResolvedCell, base: Encoder, spec: EncodeSpec):
        cell, entry = resolved.cell, resolved.method
        aligner = instantiate(entry, cell.method.params)
        languages = resolved.languages
        if not resolved.requests:  # nothing to learn from: no anchors, no guard, no artifact
            aligner.fit(AlignmentData(pivot=PIVOT, languages=languages))
            encoder = AlignedEncoder(base, aligner, cell.layer, cell.method.label, "", entry.spec.identity)
            return encoder, {"artifact": ""}, 0.0
        texts = guarded_texts(self.options, self.registry, resolved)
        provenance = {f"{r.resource.value}:{lang}": t.provenance() for (r, lang), t in texts.items()}
        key_payload = {"method": entry.name, "version": entry.spec.version, "params": cell.method.params,
                       "encoder": base.fingerprint, "layer": cell.layer, "spec": spec.key_fields(),
                       "languages": languages, "texts": texts_digests(texts),
                       "code": resolved.inputs["code"]["method"]}
        key = hashlib.sha256(canonical_json(key_payload).encode()).hexdigest()[:24]
        fit_seconds = 0.0
        state = self.artifacts.load(key)
        if state is None:
            start = time.perf_counter()
            data = self._alignment_data(base, spec, cell.layer, languages, texts, provenance)
            aligner.fit(data)
            fit_seconds = time.perf_counter() - start
            self.artifacts.save(key, fitted_state(aligner), {"key": key_payload, "provenance": provenance})
        else:
            restore_state(aligner, state)
            provenance = self.artifacts.meta(key).get("provenance", provenance)  # with what fitting added
        encoder = AlignedEncoder(base, aligner, cell.layer, cell.method.label, key, entry.spec.identity)
        return encoder, {"artifact": key, **provenance}, fit_seconds

    def _alignment_data(self, base, spec, layer, languages, texts, provenance) -> AlignmentData:
        def embed(items: list[str], lang: str) -> np.ndarray:
            return np.asarray(base.encode(items, lang, spec).layer(layer), np.float32)

        pairs, monolingual = {}, {}
        for (request, lang), text_pairs in texts.items():
            name = f"{request.resource.value}:{lang}"
            if request.resource is Resource.MONOLINGUAL_TEXT and request.unit is Unit.TOKENS:
                monolingual[lang] = token_sample(base, [a for a, _ in text_pairs.pairs], lang, layer, request.max_vectors)
                provenance[name] = {**text_pairs.provenance(), "token_vectors": len(monolingual[lang])}
            elif request.resource is Resource.MONOLINGUAL_TEXT:
                monolingual[lang] = embed([a for a, _ in text_pairs.pairs], lang)
            elif request.resource is Resource.WORD_ALIGNMENTS:
                pairs[lang], provenance[name] = word_anchor_vectors(base, text_pairs, lang, layer, request.budget,
                                                                    self.options.cache_dir)
            else:
                pairs[lang] = (embed([a for a, _ in text_pairs.pairs], lang), embed([b for _, b in text_pairs.pairs], PIVOT))
        return AlignmentData(PIVOT, languages, pairs, monolingual, provenance)


class CheckpointBuilder:
    """Stage 2 for a Finetuner: read the guarded training data of every language the data has it for,
    train a copy of the base encoder's weights (or reuse the stored checkpoint with the same key) and
    hand the checkpoint on as an ordinary encoder, with its own fingerprint and embedding-cache entries.
    The key covers the method, its version, parameters (the training seed among them) and code, the base
    encoder's fingerprint and the training texts; a task's seed (its head's) does not enter it. It does not
    cover the word links eflomal derives from those texts (unseeded: a fresh alignment cache may differ in a
    few links), so each row also records the fingerprint of the weights it was evaluated with."""

    def __init__(self, options: RunOptions, store: CheckpointStore, cache: EmbeddingCache, registry: Registry):
        self.options, self.store, self.cache, self.registry = options, store, cache, registry
        self._encoders: dict[str, tuple[CachedEncoder, dict]] = {}  # method identity -> (encoder, provenance), per run

    def build(self, resolved: ResolvedCell, base: Encoder, batch_size: int):
        cell, entry = resolved.cell, resolved.method
        model_dir, base_fingerprint = trainable_model(base)
        identity = {"method": entry.name, "version": entry.spec.version, "params": cell.method.params,
                    "base": base_fingerprint,  # the training seed is a parameter: the cell's seed is the task's
                    "code": resolved.inputs["code"]["method"]}
        run_key = canonical_json(identity)  # the data cannot change within a run: no need to read it again
        if run_key in self._encoders:
            encoder, provenance = self._encoders[run_key]
            return encoder, provenance, 0.0
        finetuner = instantiate(entry, cell.method.params)
        texts = guarded_texts(self.options, self.registry, resolved)
        key_payload = {**identity, "texts": texts_digests(texts)}
        key = hashlib.sha256(canonical_json(key_payload).encode()).hexdigest()[:24]
        fit_seconds, directory = 0.0, self.store.load(key)
        if directory is None:
            start = time.perf_counter()
            data = training_data(texts, self.options.cache_dir)
            model = TrainableModel(model_dir, threads=self.options.threads)
            finetuner.fit(data, model)
            fit_seconds = time.perf_counter() - start
            directory = self.store.save(key, model, {
                "method": entry.name, "key_payload": key_payload, "record": finetuner.record_, "provenance": data.provenance,
                "base_model": model_dir.name, "fit_seconds": round(fit_seconds, 1)})
            del model
        meta = self.store.meta(key)
        checkpoint = TransformersEncoder(directory, name=f"{cell.encoder}+{cell.method.label}", batch_size=batch_size,
                                         threads=self.options.threads)
        provenance = {"checkpoint": key, "weights": checkpoint.fingerprint, "training": meta["record"], **meta["provenance"]}
        encoder = CachedEncoder(checkpoint, self.cache, progress=self.options.progress)
        self._encoders[run_key] = (encoder, provenance)
        return encoder, provenance, fit_seconds

    def encoders(self) -> list[CachedEncoder]:
        """The checkpoints this run evaluated on."""
        return [encoder for encoder, _ in self._encoders.values()]


def training_data(texts: dict, cache_dir: Path | None) -> TrainingData:
    """The guarded texts of a Finetuner's or task-time method's requests as `TrainingData` (word
    alignments computed, or read from the cache)."""
    from bench.wordalign import align

    parallel, alignments, dictionary, provenance = {}, {}, {}, {}
    for (request, lang), text_pairs in texts.items():
        name = f"{request.resource.value}:{lang}"
        provenance[name] = text_pairs.provenance()
        if request.resource is Resource.WORD_ALIGNMENTS:
            corpus = align(text_pairs.pairs, lang, PIVOT, cache_dir)
            alignments[lang], parallel[lang] = corpus, text_pairs.pairs
            provenance[name]["alignment"] = f"eflomal + grow-diag-final-and, key {corpus.key}"
        elif request.resource is Resource.PARALLEL_SENTENCES:
            parallel[lang] = text_pairs.pairs
        elif request.resource is Resource.BILINGUAL_LEXICON:
            dictionary[lang] = text_pairs.pairs
        else:
            raise MissingResourceError(f"a Finetuner or task-time method cannot be given {request.resource.value} yet")
    languages = tuple(sorted({lang for _, lang in texts}))
    return TrainingData(PIVOT, languages, parallel, alignments, dictionary, provenance)


@dataclass
class Plan:
    """What `Runner.plan` found: cells to run, cells already current, and cells that cannot run."""

    cells: list[ResolvedCell]
    todo: list[ResolvedCell]
    not_applicable: list[ResolvedCell]
    stale: dict[str, int]
    discovery_failures: list
    encoders: dict[str, CachedEncoder]


class Runner:
    def __init__(self, spec: GridSpec, options: RunOptions, encoder_factory: EncoderFactory,
                 registry: Registry | None = None, executor: Executor | None = None):
        """`executor`: where cells run (None: here, one after another, as LocalExecutor)."""
        registry = registry or load_registry(options.extra_files)
        self.spec, self.options, self.registry = spec, options, registry
        self.executor = executor
        self.encoder_factory = encoder_factory
        self.store = ResultStore(options.out_dir)
        self.items = ItemStore(self.store.path.parent)
        self._encoder_choices = {choice.label: choice for choice in spec.encoders}
        self.cache = EmbeddingCache(options.cache_dir)
        self.builder = AlignerBuilder(options, ArtifactStore(options.cache_dir), registry)
        self.checkpoints = CheckpointBuilder(options, CheckpointStore(options.cache_dir), self.cache, registry)
        self._plan: Plan | None = None
        self._swapped: dict[str, CachedEncoder] = {}
        self._task_time: dict[str, tuple] = {}  # task-time method identity -> (fitted objective, provenance), per run

    def _task_time_method(self, resolved: ResolvedCell) -> tuple:
        """A task-time method fitted on the guarded resources it asks for (bench/tasktime.py); one fit per
        (method, parameters) and run, since its resources do not depend on the cell."""
        cell, entry = resolved.cell, resolved.method
        identity = canonical_json({"method": entry.name, "params": cell.method.params})
        if identity not in self._task_time:
            objective = instantiate(entry, cell.method.params)
            texts = guarded_texts(self.options, self.registry, resolved) if resolved.requests else {}
            data = training_data(texts, self.options.cache_dir)
            if objective.fit(data) is not objective:
                raise TypeError(f"{entry.name}.fit must return self")
            self._task_time[identity] = (objective, {"resources": data.provenance} if data.provenance else {})
        return self._task_time[identity]

    # Stage 1
    def plan(self) -> Plan:
        if self._plan is not None:
            return self._plan
        encoders = {
            choice.label: CachedEncoder(self._build_encoder(choice), self.cache, prefetch_layers=choice.layers,
                                        progress=self.options.progress)
            for choice in self.spec.encoders
        }
        cells, failures = expand(self.spec, self.options.data_dir, encoders, self.registry)
        memo: dict = {}  # file and text digests for this plan: files edited later are seen by the next plan
        resolved = [resolve(cell, self.registry, self._cell_encoder(cell, encoders), self.options.data_dir, memo,
                            max(self._encoder_choices[cell.encoder].layers), self.options.cache_dir) for cell in cells]
        finished = self.store.finished()
        todo, not_applicable, stale = [], [], {}
        for item in resolved:
            if item.not_applicable:
                not_applicable.append(item)
                continue
            if item.cell_id in finished:
                why = staleness(finished[item.cell_id], item.inputs)
                if not why:
                    continue
                stale[why] = stale.get(why, 0) + 1
            todo.append(item)
        self._plan = Plan(resolved, todo, not_applicable, stale, failures, encoders)
        return self._plan

    def _cell_encoder(self, cell, encoders: dict[str, CachedEncoder]) -> CachedEncoder:
        """The grid's encoder, or the pretrained encoder a method stands for (one per name and run)."""
        name = self.registry.method(cell.method.name).spec.pretrained_encoder
        if not name:
            return encoders[cell.encoder]
        key = f"pretrained:{name}"
        if key not in self._swapped:
            batch = self.options.batch_size(self._encoder_choices[cell.encoder].batch_size)
            self._swapped[key] = CachedEncoder(self.encoder_factory(name, batch), self.cache, progress=self.options.progress)
        return self._swapped[key]

    def _build_encoder(self, choice) -> Encoder:
        base = self.encoder_factory(choice.name, self.options.batch_size(choice.batch_size))
        if not choice.per_language:
            return base
        from bench.encoders.per_language import PerLanguageEncoder

        if PIVOT in dict(choice.per_language):
            raise ValueError(f"encoder {choice.label}: the pivot {PIVOT!r} is encoded by the default encoder {choice.name!r}")
        others = {lang: self.encoder_factory(name, self.options.batch_size(choice.batch_size)) for lang, name in choice.per_language}
        return PerLanguageEncoder(base, others, choice.label)

    @property
    def planned_configs(self) -> dict[str, dict]:
        return {item.cell_id: item.config for item in self.plan().cells}

    def superseded(self) -> set[str]:
        """Finished cells that this grid's planned cells replace (older task/method version, other weights)."""
        return superseded_cells(self.store.rows(), self.planned_configs)

    def stale_failures(self) -> set[str]:
        """Cells logged as failed whose coordinates (method, encoder, layer, task, language, seed) a planned
        cell now holds under another id: their failure records describe code that no longer runs."""
        planned = self.planned_configs
        coordinates = {(c.cell.method.label, c.cell.encoder, c.cell.layer, c.cell.task.name, c.cell.language, c.cell.seed)
                       for c in self.plan().cells}
        return {e["cell_id"] for e in read_jsonl(self.store.errors_path)
                if e["cell_id"] not in planned
                and (e["method_label"], e["encoder"], e["layer"], e["task"], e["language"], e["seed"]) in coordinates}

    def run(self) -> RunSummary:
        with self.store.exclusive():
            return self._run()

    def _run(self) -> RunSummary:
        start = time.perf_counter()
        self.store.repair()
        removed, freed = sweep_temporary(self.options.cache_dir, self.options.out_dir)
        plan = self.plan()
        summary = RunSummary(planned=len(plan.cells), not_applicable=len(plan.not_applicable), stale=dict(plan.stale))
        if removed:
            summary.warnings.append(f"removed {removed} temporary files left by an interrupted run ({freed / 1e6:.1f} MB)")
        summary.skipped = summary.planned - len(plan.todo) - summary.not_applicable
        for item in plan.not_applicable:
            summary.not_applicable_reasons[item.not_applicable] = summary.not_applicable_reasons.get(item.not_applicable, 0) + 1
        self.store.write_not_applicable(self.spec.name, [
            {"method_label": c.cell.method.label, "encoder": c.cell.encoder, "layer": c.cell.layer, "task": c.cell.task.name,
             "language": c.cell.language, "seed": c.cell.seed, "cell_id": c.cell_id, "reason": c.not_applicable}
            for c in plan.not_applicable])
        run_id = uuid.uuid4().hex[:12]
        context = {"run_id": run_id, "git_sha": _git_sha(), "versions": _versions()}
        for failure in plan.discovery_failures:
            summary.failed += 1
            message = self._relative(failure.message)
            summary.errors.append(f"task {failure.task} (discovering languages): {failure.error_type}: {message}")
            self.store.append_error(ErrorRow(run_id, f"discovery:{failure.task}", "*", "*", -1, failure.task, "*", -1,
                                             failure.error_type, message, "", _now()))
        journal = MirrorJournal(self.options.out_dir)
        if self.options.tracking_uri:
            self._reconcile_mirror(journal, summary)
        tracker = self._tracker() if plan.todo else NullTracker()
        if self.options.tracking_uri and plan.todo:
            journal.open(run_id, self.options.tracking_uri, self._experiment)
        tracker.start_grid(f"{self.spec.name}-{run_id}", {"grid": self.spec.name, "run_id": run_id, "cells_planned": summary.planned,
                                                          "cells_to_run": len(plan.todo)}, run_id)
        bar = None
        if self.options.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(plan.todo), desc="grid", unit="cell")
        executor = self.executor or LocalExecutor()
        try:
            for resolved, outcome in executor.map(self, plan.todo):
                self._record(resolved, outcome, tracker, context, summary)
                if bar is not None:
                    cell = resolved.cell
                    bar.set_postfix_str(f"{cell.method.label} {cell.task.label} {cell.language} L{cell.layer}")
                    bar.update()
        except BaseException:
            tracker.end_grid(failed=True)
            raise
        finally:
            if bar is not None:
                bar.close()
        tracker.end_grid(failed=summary.failed > 0)
        if tracker.healthy:  # every cell this run recorded is in the mirror
            journal.close(run_id)
        summary.warnings += tracker.warnings
        summary.encoder_calls += self.encoder_calls()[0]
        summary.encode_seconds += self.encoder_calls()[1]
        summary.superseded = len(self.superseded())
        summary.seconds = time.perf_counter() - start
        return summary

    @property
    def _experiment(self) -> str:
        return f"alignbench/{self.spec.name}"

    def _tracker(self):
        if not self.options.tracking_uri:
            return NullTracker()
        return open_tracker(self.options.tracking_uri, self._experiment, self.options.out_dir / "mlartifacts")

    def _reconcile_mirror(self, journal: MirrorJournal, summary: RunSummary) -> None:
        """Repair the mirror of earlier invocations that were interrupted (their journal markers remain)."""
        pending = journal.pending()
        if not pending:
            return
        rows = [row for group in latest_groups(self.store.rows()).values() for row in group]
        for entry in pending:
            try:
                closed, logged = reconcile(rows, entry, self.options.out_dir / "mlartifacts")
            except Exception as error:  # the mirror is optional: keep the marker and try again next run
                summary.warnings.append(f"could not repair the MLflow mirror of interrupted run {entry['run_id']} "
                                        f"({type(error).__name__}: {str(error)[:300]}); will retry on the next run")
                continue
            journal.close(entry["run_id"])
            summary.warnings.append(f"MLflow mirror of interrupted run {entry['run_id']} repaired: {closed} RUNNING "
                                    f"run(s) closed as KILLED, {logged} missing cell(s) logged from results.jsonl")

    def _relative(self, text: str) -> str:
        """Paths under the data root written relative to it, so records do not depend on where it lives."""
        return text.replace(f"{self.options.data_dir}/", "").replace(str(self.options.data_dir), ".")

    def encoder_calls(self) -> tuple[int, float]:
        """(calls, seconds) of every encoder this runner built: how often a forward pass actually ran."""
        every = list(self.plan().encoders.values()) + self.checkpoints.encoders() + list(self._swapped.values())
        return sum(e.encoder_calls for e in every), sum(e.encode_seconds for e in every)

    # Stages 2-3 for one cell: no write to the results, errors or MLflow (an executor's worker runs this)
    def execute(self, resolved: ResolvedCell) -> CellOutcome:
        with cpu_threads(self.options.threads):
            return self._execute(resolved)

    def _execute(self, resolved: ResolvedCell) -> CellOutcome:
        cell = resolved.cell
        base = self._cell_encoder(cell, self.plan().encoders)
        # one forward pass fills the cache for every layer this task will ask for, and no more
        base.prefetch_layers = task_layers(cell.task, self._encoder_choices[cell.encoder])
        started = _now()
        calls_before, seconds_before = self.encoder_calls()
        task_entry, method_entry, task = resolved.task, resolved.method, resolved.task_obj
        try:
            if resolved.planning_error:
                raise RuntimeError(resolved.planning_error)
            spec = task.encode_spec(cell.layer)
            ctx = TaskContext(self.options.data_dir, cell.layer, cell.seed, self.options.cache_dir)
            if resolved.synthetic:  # simulated data: the task fits the method itself (no encoder)
                anchors, fit_seconds, eval_start = {"synthetic": task_entry.spec.dataset}, 0.0, time.perf_counter()
                scores = task.evaluate_method(lambda: instantiate(method_entry, cell.method.params), cell.language, ctx)
            elif resolved.acts_at_task_time:  # the grid's encoder; the method shapes how the task trains
                start = time.perf_counter()
                objective, provenance = self._task_time_method(resolved)
                encoder, fit_seconds, eval_start = base, time.perf_counter() - start, time.perf_counter()
                anchors = {"task_time": {"objective": method_entry.name, "params": dict(cell.method.params),
                                         "trained_on": "the task's own English training data", **provenance}}
                scores = task.evaluate(encoder, cell.language, dataclasses.replace(ctx, objective=objective))
            elif resolved.swaps_encoder:  # the method is another pretrained encoder: evaluated as it is
                encoder, fit_seconds, eval_start = base, 0.0, time.perf_counter()
                anchors = {"pretrained_encoder": resolved.method.spec.pretrained_encoder, "fingerprint": base.fingerprint}
                scores = task.evaluate(encoder, cell.language, ctx)
            else:
                if resolved.trains_encoder:  # a checkpoint, evaluated like any encoder
                    batch = self.options.batch_size(self._encoder_choices[cell.encoder].batch_size)
                    encoder, anchors, fit_seconds = self.checkpoints.build(resolved, base, batch)
                    encoder.prefetch_layers = base.prefetch_layers
                else:
                    # anchors are sentence vectors: fit on pooled states even when the task keeps token states
                    anchor_spec = dataclasses.replace(spec, keep_tokens=False)
                    encoder, anchors, fit_seconds = self.builder.build(resolved, base, anchor_spec)
                eval_start = time.perf_counter()
                scores = task.evaluate(encoder, cell.language, ctx)
            eval_seconds = time.perf_counter() - eval_start
            if not scores:
                raise RuntimeError(f"task {cell.task.name} returned no scores for {cell.language}")
            for score in scores:
                if not np.isfinite(score.value):
                    raise ValueError(f"task {cell.task.name} produced a non-finite {score.metric} for {cell.language}")
                check_items_reproduce(cell.task.name, cell.language, score)
        except Exception as error:  # one failing cell never kills the grid
            calls, seconds = self.encoder_calls()
            return CellOutcome(resolved.cell_id, started, _now(), error=CellError(
                type(error).__name__, self._relative(str(error)), self._relative(traceback.format_exc())),
                encoder_calls=calls - calls_before, encode_seconds=seconds - seconds_before)
        calls, seconds = self.encoder_calls()
        return CellOutcome(resolved.cell_id, started, _now(), tuple(scores), anchors, fit_seconds, eval_seconds,
                           encoder_calls=calls - calls_before, encode_seconds=seconds - seconds_before)

    # Stage 4: the driver records what a cell gave (the only writer of results, errors and MLflow)
    def _record(self, resolved: ResolvedCell, outcome: CellOutcome, tracker, context: dict, summary: RunSummary) -> None:
        cell, cell_id = resolved.cell, resolved.cell_id
        task_entry, method_entry, task = resolved.task, resolved.method, resolved.task_obj
        base_tags = {"category": method_entry.spec.category.value, "task": cell.task.name, "language": cell.language,
                     "method": cell.method.label, "cell_id": cell_id}
        params = {"encoder": cell.encoder, "layer": cell.layer, "seed": cell.seed, "language": cell.language,
                  "method": cell.method.label, "task": cell.task.label, **{f"method.{k}": v for k, v in cell.method.params},
                  **{f"task.{k}": v for k, v in cell.task.params}}
        if self.executor is not None:  # a worker's encoder calls are not this process's
            summary.encoder_calls += outcome.encoder_calls
            summary.encode_seconds += outcome.encode_seconds
        error = outcome.error
        items_file = ""
        if error is None:
            try:
                items_file = self.items.save(cell_id, outcome.scores)
            except OSError as failure:
                error = CellError(type(failure).__name__, str(failure), traceback.format_exc())
        if error is not None:
            summary.failed += 1
            summary.errors.append(f"{cell.run_name}: {error.type}: {error.message}")
            self.store.append_error(ErrorRow(context["run_id"], cell_id, cell.method.label, cell.encoder, cell.layer,
                                             cell.task.name, cell.language, cell.seed, error.type, error.message,
                                             error.traceback, _now()))
            tracker.log_cell(cell.run_name, params, {**base_tags, "error": f"{error.type}: {error.message}"[:5000]}, {},
                             failed=True)
            return
        scores, anchors, started = outcome.scores, outcome.anchors, outcome.started
        fit_seconds, eval_seconds = outcome.fit_seconds, outcome.eval_seconds
        spec = task.encode_spec(cell.layer)
        protocol_detail = task.protocol(cell.layer)
        protocol = protocol_detail.get("id", task_entry.spec.protocol)  # a task parameter may pick the protocol
        rows = [
            ResultRow(
                run_id=context["run_id"], cell_id=cell_id, method=cell.method.name, method_label=cell.method.label,
                method_version=method_entry.spec.version, method_params=dict(resolved.config["method"]["params"]),
                method_origin=method_entry.origin, category=method_entry.spec.category.value, encoder=cell.encoder,
                encoder_fingerprint=cell.encoder_fingerprint, layer=cell.layer, pooling=spec.pooling.value,
                task=cell.task.name, task_version=task_entry.spec.version, protocol=protocol,
                protocol_detail=protocol_detail, kind=task_entry.spec.kind, split=protocol_detail.get("split", ""),
                source_language=PIVOT, language=cell.language, subset=score.subset, metric=score.metric,
                value=float(score.value), higher_is_better=task_entry.spec.higher_is_better_for(score.metric),
                is_main=score.metric == task_entry.spec.main_metric, n=score.n, seed=cell.seed, config_hash=cell_id,
                resolved_config=resolved.config, anchors=anchors, harness_version=__version__,
                git_sha=context["git_sha"], versions=context["versions"], started_at=started, finished_at=outcome.finished,
                fit_seconds=round(fit_seconds, 3), eval_seconds=round(eval_seconds, 3),
                extra=json.loads(canonical_json(score.extra)), inputs=resolved.inputs, cell_rows=len(scores),
                items=items_file if score.items is not None else "",
            )
            for score in scores
        ]
        self.store.append(rows)
        summary.done += 1
        metrics = {(f"{s.subset}/{s.metric}" if s.subset else s.metric): s.value for s in scores}
        tracker.log_cell(cell.run_name, params, {**base_tags, "protocol": protocol}, metrics)
