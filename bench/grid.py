"""Grid configs: TOML -> validated GridSpec -> expanded Cells, each with a resolved config and hash."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.alignment import canonical_json
from bench.registry import Entry, Registry, RegistryError, load_registry


class GridError(ValueError):
    pass


@dataclass(frozen=True)
class EncoderChoice:
    """`name` encodes every language, except those `per_language` gives their own (independent) encoder."""

    name: str
    layers: tuple[int, ...]
    batch_size: int = 64
    per_language: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        if not self.per_language:
            return self.name
        return f"{self.name}+{','.join(f'{lang}={other}' for lang, other in self.per_language)}"


@dataclass(frozen=True)
class Choice:
    """A method or task with its parameters (those the TOML set, as sorted items)."""

    name: str
    params: tuple[tuple[str, object], ...] = ()
    languages: tuple[str, ...] = ()  # tasks only: restrict to these (empty = every language found)
    layers: tuple[int, ...] = ()  # tasks only: restrict to these of the encoder's layers (empty = all)
    seeds: tuple[int, ...] = ()  # tasks only: overrides the grid's seeds (e.g. 3 seeds for trained heads)
    tasks: tuple[str, ...] = ()  # methods only: run on these tasks (empty = every task of the grid)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in self.params)}]"


@dataclass(frozen=True)
class GridSpec:
    name: str
    encoders: tuple[EncoderChoice, ...]
    methods: tuple[Choice, ...]
    tasks: tuple[Choice, ...]
    seeds: tuple[int, ...] = (0,)
    languages: tuple[str, ...] = ()  # empty = every language found
    source: str = ""  # the grid file, for messages


@dataclass(frozen=True)
class Cell:
    encoder: str
    encoder_fingerprint: str
    layer: int
    method: Choice
    task: Choice
    language: str
    seed: int

    def resolved_config(self, registry: Registry) -> dict:
        method_entry, task_entry = registry.method(self.method.name), registry.task(self.task.name)
        task_obj = instantiate(task_entry, self.task.params)
        return {
            "encoder": {"name": self.encoder, "fingerprint": self.encoder_fingerprint, "layer": self.layer},
            "method": {"name": self.method.name, "version": method_entry.spec.version,
                       "params": _all_params(instantiate(method_entry, self.method.params))},
            "task": {"name": self.task.name, "version": task_entry.spec.version, "protocol": task_entry.spec.protocol,
                     "params": _all_params(task_obj), "encode": task_obj.encode_spec(self.layer).key_fields()},
            "language": self.language,
            "seed": self.seed,
        }

    def cell_id(self, registry: Registry) -> str:
        return config_id(self.resolved_config(registry))

    @property
    def run_name(self) -> str:
        return f"{self.method.label}/{self.task.label}/{self.language}/L{self.layer}/s{self.seed}"


def config_id(config: dict) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:20]


def _all_params(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}


def instantiate(entry: Entry, params: tuple[tuple[str, object], ...]):
    fields = {f.name for f in dataclasses.fields(entry.cls)} if dataclasses.is_dataclass(entry.cls) else set()
    for key, _ in params:
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise GridError(f"{entry.name}: unknown parameter {key!r}{hint} (parameters: {sorted(fields) or 'none'})")
    types = {f.name: f.type for f in dataclasses.fields(entry.cls)} if dataclasses.is_dataclass(entry.cls) else {}
    for key, value in params:
        expected = _SCALAR_TYPES.get(str(types.get(key)).removesuffix(" | None"))
        if expected is not None and not _is_a(value, expected):
            raise GridError(f"{entry.name}: parameter {key!r} must be {types[key]}, got {value!r}")
        if expected in (int, float) and not (math.isfinite(value) and value >= 0):
            # every numeric parameter counts, sizes or weighs something (README: submitting a method)
            raise GridError(f"{entry.name}: parameter {key!r} must be a finite number >= 0, got {value!r}")
    try:
        return entry.cls(**dict(params))
    except (TypeError, ValueError) as error:
        raise GridError(f"{entry.name}: {error}") from error


_SCALAR_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _is_a(value, expected: type) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) if expected is float else isinstance(value, expected)


def _check_keys(table: dict, allowed: set[str], where: str):
    unknown = set(table) - allowed
    if unknown:
        raise GridError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _int_list(item: dict, key: str, where: str, minimum: int | None = None) -> tuple[int, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise GridError(f"{where}.{key} must be a list of integers, got {value!r}")
    if minimum is not None and any(v < minimum for v in value):
        raise GridError(f"{where}.{key} must be >= {minimum}, got {value!r}")
    return tuple(value)


def _str_list(item: dict, key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GridError(f"{where}.{key} must be a list of strings, got {value!r}")
    return tuple(value)


def _choices(items: list, where: str, allowed: set[str]) -> tuple[Choice, ...]:
    out = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        _check_keys(item, allowed, at)
        if not isinstance(item.get("name"), str):
            raise GridError(f"{at}: missing 'name'")
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise GridError(f"{at}.params must be a table")
        choice = Choice(item["name"], tuple(sorted(params.items())), _str_list(item, "languages", at),
                        _int_list(item, "layers", at, 0), _int_list(item, "seeds", at), _str_list(item, "tasks", at))
        if choice in out:
            raise GridError(f"{at}: {choice.label} is listed twice (it would run, and write its rows, twice)")
        out.append(choice)
    return tuple(out)


def only_seeds(spec: GridSpec, seeds: tuple[int, ...]) -> GridSpec:
    """The grid restricted to these of its seeds: a slice whose cells keep their ids, so a later run of the
    whole grid skips them. A task left without seeds drops out; a seed the grid lacks is an error."""
    available = set(spec.seeds) | {seed for task in spec.tasks for seed in task.seeds}
    missing = sorted(set(seeds) - available)
    if missing:
        raise GridError(f"{spec.source}: seeds {missing} are not in the grid (it has {sorted(available)})")
    wanted = set(seeds)
    grid_seeds = tuple(seed for seed in spec.seeds if seed in wanted)
    tasks = []
    for task in spec.tasks:
        own = tuple(seed for seed in task.seeds if seed in wanted)
        if task.seeds and own:
            tasks.append(dataclasses.replace(task, seeds=own))
        elif not task.seeds and grid_seeds:
            tasks.append(task)
    methods = tuple(dataclasses.replace(m, tasks=tuple(t for t in m.tasks if t in {task.name for task in tasks}))
                    for m in spec.methods if not m.tasks or set(m.tasks) & {task.name for task in tasks})
    return dataclasses.replace(spec, tasks=tuple(tasks), methods=methods, seeds=grid_seeds or spec.seeds[:1])


def load_grid(path: Path, registry: Registry | None = None) -> GridSpec:
    registry = registry or load_registry()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridError(f"grid file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise GridError(f"{path}: invalid TOML: {error}") from None
    _check_keys(raw, {"name", "seeds", "languages", "encoders", "methods", "tasks"}, str(path))
    encoders = []
    for i, item in enumerate(raw.get("encoders", [])):
        at = f"{path}: encoders[{i}]"
        _check_keys(item, {"name", "layers", "batch_size", "per_language"}, at)
        if not item.get("layers"):
            raise GridError(f"{at} needs 'layers' (absolute hidden_states indices)")
        batch_size = item.get("batch_size", 64)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise GridError(f"{at}.batch_size must be a positive integer, got {batch_size!r}")
        per_language = item.get("per_language", {})
        if not isinstance(per_language, dict) or not all(isinstance(v, str) for v in per_language.values()):
            raise GridError(f"{at}.per_language must map language codes to encoder names")
        choice = EncoderChoice(item["name"], _int_list(item, "layers", at, 0), batch_size, tuple(sorted(per_language.items())))
        if choice.label in {e.label for e in encoders}:
            raise GridError(f"{at}: encoder {choice.label} is listed twice")
        encoders.append(choice)
    spec = GridSpec(
        name=raw.get("name", path.stem),
        source=str(path),
        encoders=tuple(encoders),
        methods=_choices(raw.get("methods", []), f"{path}: methods", {"name", "params", "tasks"}),
        tasks=_choices(raw.get("tasks", []), f"{path}: tasks", {"name", "params", "languages", "layers", "seeds"}),
        seeds=_int_list(raw, "seeds", str(path)) if "seeds" in raw else (0,),
        languages=_str_list(raw, "languages", str(path)),
    )
    if not (spec.encoders and spec.methods and spec.tasks and spec.seeds):
        raise GridError(f"{path}: a grid needs at least one encoder, method, task and seed")
    for where, choices, lookup in (("methods", spec.methods, registry.method), ("tasks", spec.tasks, registry.task)):
        for i, choice in enumerate(choices):
            try:
                instantiate(lookup(choice.name), choice.params)
            except (RegistryError, GridError) as error:
                raise GridError(f"{path}: {where}[{i}]: {error}") from None
    for choice in spec.methods:
        unknown = set(choice.tasks) - {task.name for task in spec.tasks}
        if unknown:
            raise GridError(f"{path}: method {choice.label} lists tasks {sorted(unknown)} that the grid does not run")
    all_layers = {layer for encoder in spec.encoders for layer in encoder.layers}
    for choice in spec.tasks:
        if set(choice.layers) - all_layers:
            raise GridError(f"{path}: task {choice.name} asks for layers {sorted(set(choice.layers) - all_layers)} "
                            f"that no encoder lists (encoders' layers: {sorted(all_layers)})")
    return spec


def task_layers(choice: Choice, encoder: EncoderChoice) -> tuple[int, ...]:
    return tuple(layer for layer in encoder.layers if not choice.layers or layer in choice.layers)


@dataclass(frozen=True)
class DiscoveryFailure:
    """A task whose languages could not be discovered (e.g. a file name that names no language)."""

    task: str
    error_type: str
    message: str


def expand(spec: GridSpec, data_dir: Path, encoders: dict, registry: Registry) -> tuple[list[Cell], list[DiscoveryFailure]]:
    """Every cell of the grid, ordered so that cells sharing an encoder and layer are adjacent (cache
    hits) and the languages of one (method, task, seed) follow each other (a trained head is reused).

    `encoders` maps labels to Encoders (for fingerprints and layer counts). A task whose languages cannot
    be discovered is returned as a failure; the rest of the grid is expanded as usual."""
    cells, failures, matched = [], [], set()
    for i, encoder in enumerate(spec.encoders):
        too_deep = [layer for layer in encoder.layers if layer > encoders[encoder.label].num_layers]
        if too_deep and encoders[encoder.label].num_layers:
            where = f"{spec.source}: encoders[{i}].layers: " if spec.source else ""
            raise GridError(f"{where}encoder {encoder.label} has hidden_states 0..{encoders[encoder.label].num_layers}; "
                            f"layers {too_deep} do not exist")
    for task_choice in spec.tasks:
        task = instantiate(registry.task(task_choice.name), task_choice.params)
        try:
            found = task.languages(data_dir)
        except (ValueError, OSError) as error:
            failures.append(DiscoveryFailure(task_choice.name, type(error).__name__, str(error)))
            continue
        if task_choice.languages:
            unknown = [lang for lang in task_choice.languages if lang not in found]
            if unknown:
                raise GridError(f"task {task_choice.name}: languages {unknown} not found in the data (found {found})")
            found = [lang for lang in found if lang in task_choice.languages]
        elif spec.languages:
            found = [lang for lang in found if lang in spec.languages or any(part in spec.languages for part in lang.split("-"))]
        matched |= {part for lang in found for part in [lang, *lang.split("-")]}
        for encoder in spec.encoders:
            for layer in task_layers(task_choice, encoder):
                for method_choice in spec.methods:
                    if method_choice.tasks and task_choice.name not in method_choice.tasks:
                        continue
                    for language in found:
                        for seed in task_choice.seeds or spec.seeds:
                            cells.append(Cell(encoder.label, encoders[encoder.label].fingerprint, layer, method_choice,
                                              task_choice, language, seed))
    unmatched = [lang for lang in spec.languages if lang not in matched]
    if unmatched and not failures:
        raise GridError(f"grid {spec.name}: languages {unmatched} match no task's data")
    cells = sorted(cells, key=lambda c: (c.encoder, c.layer, c.method.label, c.task.label, c.seed, c.language))
    return cells, failures
