"""Stage 1 of the runner: every grid cell resolved once into a typed `ResolvedCell`.

Resolving a cell fixes everything the runner, the aligner builder and the recorder need: the resolved
configuration and its id, the registry entries and the task object, the method's anchor requests,
whether the cell can run at all with this encoder, method and data ("not applicable" and why, decided
from declared needs and the files found, never by running it), and the digests of the code and data
its numbers depend on (`inputs`), which decide on resume whether a finished cell is still current.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from bench.alignment import canonical_json
from bench.anchors import anchor_texts, evaluation_texts, resource_files, resource_languages
from bench.encoders.base import Encoder
from bench.grid import Cell, config_id, instantiate
from bench.languages import PIVOT
from bench.provenance import class_source_digest, files_digest
from bench.registry import Entry, Registry
from bench.specs import AnchorRequest, Mode, Requirement, Resource, Unit


@dataclass(frozen=True)
class ResolvedCell:
    cell: Cell
    cell_id: str
    config: dict  # the resolved configuration, JSON-normalised (what the cell id hashes)
    method: Entry
    task: Entry
    task_obj: object  # the task instance: a frozen dataclass, shared by the runner and the recorder
    requests: tuple[AnchorRequest, ...]
    inputs: dict  # {"code": {"method": sha, "task": sha}, "data": sha, "data_files": n}
    not_applicable: str = ""  # why the cell cannot run here ("" = it can)
    planning_error: str = ""  # a data problem found while planning: the cell is recorded as failed

    @property
    def synthetic(self) -> bool:
        return self.task.spec.kind == "synthetic"

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language the cell's vectors (and any fitted map) involve, pivot included."""
        return _with_pivot(self.task_obj, self.cell.language)

    @property
    def trains_encoder(self) -> bool:
        """The method changes the encoder's weights (a Finetuner, bench/finetune.py)."""
        return self.method.spec.trains_encoder

    @property
    def acts_at_task_time(self) -> bool:
        """The method changes how the task trains its model (bench/tasktime.py); the encoder is the grid's."""
        return self.method.spec.acts_at_task_time

    @property
    def swaps_encoder(self) -> bool:
        """The method is a pretrained encoder of its own, used in place of the grid's."""
        return bool(self.method.spec.pretrained_encoder)


def _with_pivot(task_obj, language: str) -> tuple[str, ...]:
    return tuple(sorted(set(task_obj.cell_languages(language)) | {PIVOT}))


def request_languages(request: AnchorRequest, languages: tuple[str, ...]) -> tuple[str, ...]:
    """The languages an anchor request is read for: every one for monolingual text, else all but the pivot."""
    if request.resource is Resource.MONOLINGUAL_TEXT:
        return languages
    return tuple(lang for lang in languages if lang != PIVOT)


def training_languages(method: Entry, request: AnchorRequest, cell_languages: tuple[str, ...],
                       data_dir: Path) -> tuple[str, ...]:
    """The languages a request is read for: a fitted map's are the cell's; a Finetuner's (and a task-time
    method's) are every language the data has the resource for (one fit serves every cell)."""
    if method.spec.trains_encoder or method.spec.acts_at_task_time:
        return resource_languages(request.resource, data_dir)
    return request_languages(request, cell_languages)


def _not_applicable(resolved_languages: tuple[str, ...], cell: Cell, method: Entry, task: Entry, task_obj, requests,
                    encoder: Encoder, data_dir: Path, synthetic: bool, top_layer: int) -> str:
    if synthetic:  # simulated data: the task fits the method itself (so not a Finetuner or another encoder)
        return f"{cell.task.label} simulates vectors; {method.name} trains an encoder" if method.spec.mode is Mode.ONLINE else ""
    needs = set(task_obj.requirements())
    if method.spec.acts_at_task_time:
        if not task.spec.trains_on_source:
            return f"{cell.task.label} trains no model on the source language; {method.name} acts while one is trained"
        protocol = "finetune" if Requirement.TRAINABLE_WEIGHTS in needs else "frozen"
        if protocol not in method.spec.task_protocols:
            return (f"{method.name} acts in the {' and '.join(sorted(method.spec.task_protocols))} protocol only; "
                    f"{cell.task.label} uses the {protocol} protocol")
        if len({encoder.space(lang) for lang in resolved_languages}) > 1:
            return (f"encoder {cell.encoder} encodes {', '.join(resolved_languages)} with independent models; "
                    f"{method.name} leaves them in different spaces")
        if missing := _resource_nowhere(requests, data_dir):
            return missing
        return _encoder_lacks(needs, resolved_languages, cell, encoder)
    if any(request.unit is Unit.TOKENS for request in requests):
        needs.add(Requirement.TOKEN_STATES)
    if Requirement.TRAINABLE_WEIGHTS in needs and not method.spec.keeps_weights_trainable:
        return f"{cell.task.label} trains the encoder; {method.name} only maps frozen vectors"
    if method.spec.pretrained_encoder:
        if encoder.num_layers == 0 and cell.layer != top_layer:
            return (f"{method.name} is a sentence encoder without layers: its cells are planned once, at the grid's "
                    f"top layer {top_layer}")
        return _encoder_lacks(needs, resolved_languages, cell, encoder)
    if method.spec.trains_encoder:
        lacking = [lang for lang in resolved_languages if Requirement.TRAINABLE_WEIGHTS not in encoder.capabilities(lang)]
        if lacking:
            return f"{method.name} fine-tunes the encoder; {cell.encoder} has no trainable weights for {', '.join(lacking)}"
        if missing := _resource_nowhere(requests, data_dir):
            return missing
        return _encoder_lacks(needs, resolved_languages, cell, encoder)
    if method.spec.identity and len({encoder.space(lang) for lang in resolved_languages}) > 1:
        return (f"encoder {cell.encoder} encodes {', '.join(resolved_languages)} with independent models; "
                f"{method.name} leaves them in different spaces (only a fitted map makes them comparable)")
    lacks = _encoder_lacks(needs, resolved_languages, cell, encoder)
    if lacks:
        return lacks
    for request in requests:
        for lang in request_languages(request, resolved_languages):
            if not resource_files(request.resource, data_dir, lang):
                return f"no {request.resource.value.replace('_', ' ')} for {lang} in the data"
    return ""


def _resource_nowhere(requests, data_dir: Path) -> str:
    """Why a method that trains once for every language (a Finetuner, a task-time method) cannot: a resource
    it asks for that no language in the data has; "" if none."""
    for request in requests:
        if not resource_languages(request.resource, data_dir):
            return f"no {request.resource.value.replace('_', ' ')} for any language in the data"
    return ""


def _encoder_lacks(needs, resolved_languages, cell: Cell, encoder: Encoder) -> str:
    for need in sorted(needs, key=lambda n: n.value):
        lacking = [lang for lang in resolved_languages if need not in encoder.capabilities(lang)]
        if lacking:
            return f"encoder {cell.encoder} has no {need.value} for {', '.join(lacking)}"
    return ""


def resolve(cell: Cell, registry: Registry, encoder: Encoder, data_dir: Path, digest_memo: dict | None = None,
            top_layer: int | None = None, cache_dir: Path | None = None) -> ResolvedCell:
    """`encoder`: the one the cell's vectors come from (a pretrained-encoder method's own); `digest_memo`:
    one dict for all cells of a plan, so shared files and texts are digested once; `top_layer`: the grid
    encoder's deepest listed layer; `cache_dir`: where the leakage guard keeps its texts
    (`anchors.evaluation_texts`, read only when a cell trains on something; None: no disk cache)."""
    method, task = registry.method(cell.method.name), registry.task(cell.task.name)
    task_obj = instantiate(task, cell.task.params)
    requests = tuple(instantiate(method, cell.method.params).needs())
    config = json.loads(canonical_json(cell.resolved_config(registry)))
    languages = _with_pivot(task_obj, cell.language)
    code = {"method": class_source_digest(method.cls), "task": class_source_digest(task.cls)}
    synthetic, error = task.spec.kind == "synthetic", ""
    files: list[Path] = []
    memo = digest_memo if digest_memo is not None else {}
    trained_on = ""
    try:
        reason = _not_applicable(languages, cell, method, task, task_obj, requests, encoder, data_dir, synthetic,
                                 cell.layer if top_layer is None else top_layer)
        if not reason and not synthetic:
            files = list(task_obj.data_files(data_dir, cell.language))
            for request in requests:
                for lang in training_languages(method, request, languages, data_dir):
                    files += resource_files(request.resource, data_dir, lang)
            if requests:
                trained_on = training_texts_digest(method, requests, languages, data_dir, registry, cache_dir, memo)
    except (ValueError, OSError, KeyError, RuntimeError) as problem:  # a data file the plan cannot list or read
        reason, error = "", f"{type(problem).__name__}: {problem}"
    data = files_digest(files, data_dir, memo)
    if trained_on:
        data = hashlib.sha256(f"{data}\0{trained_on}".encode()).hexdigest()
    inputs = {"code": code, "data": data, "data_files": len(set(files))}
    return ResolvedCell(cell, config_id(config), config, method, task, task_obj, requests, inputs, reason, error)


def training_texts_digest(method: Entry, requests: tuple[AnchorRequest, ...], languages: tuple[str, ...], data_dir: Path,
                          registry: Registry, cache_dir: Path | None, memo: dict) -> str:
    """sha256 over the guarded texts behind each of a method's anchor requests, for every language it
    trains on: what the method actually learns from. The cell's data digest covers this instead of the
    leakage guard's own files, so adding an evaluation set that shares no text with the training data
    leaves finished cells current, while one that bans a training item makes them stale."""
    parts = {}
    for request in requests:
        for lang in training_languages(method, request, languages, data_dir):
            key = ("guarded texts", request.resource, lang, request.budget)
            if key not in memo:  # evaluation_texts is memoised per process: the guard is read once
                banned = evaluation_texts(data_dir, registry, cache_dir)
                memo[key] = anchor_texts(request.resource, data_dir, lang, request.budget, banned).digest()
            parts[f"{request.resource.value}:{lang}:{request.budget}"] = memo[key]
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def staleness(recorded: dict, planned: dict) -> str:
    """Why a finished cell no longer matches its plan: "code", "data", "code and data", "inputs not
    recorded" (rows older than these digests), or "" when it is current."""
    if not recorded:
        return "inputs not recorded"
    changed = [what for what in ("code", "data") if recorded.get(what) != planned.get(what)]
    return " and ".join(changed)
