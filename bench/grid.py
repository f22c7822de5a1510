"""Grid configs: TOML -> validated GridSpec -> expanded Cells, each with a resolved config and hash."""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.alignment import canonical_json
from bench.registry import Entry, RegistryError, get_method, get_task


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


@dataclass(frozen=True)
class Cell:
    encoder: str
    encoder_fingerprint: str
    layer: int
    method: Choice
    task: Choice
    language: str
    seed: int

    def resolved_config(self, extra_files: tuple[str, ...] = ()) -> dict:
        method_entry, task_entry = get_method(self.method.name, extra_files), get_task(self.task.name, extra_files)
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

    def cell_id(self, extra_files: tuple[str, ...] = ()) -> str:
        return hashlib.sha256(canonical_json(self.resolved_config(extra_files)).encode()).hexdigest()[:20]


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
    try:
        return entry.cls(**dict(params))
    except (TypeError, ValueError) as error:
        raise GridError(f"{entry.name}: {error}") from error


def _check_keys(table: dict, allowed: set[str], where: str):
    unknown = set(table) - allowed
    if unknown:
        raise GridError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _choices(items: list, where: str, allowed: set[str]) -> tuple[Choice, ...]:
    out = []
    for i, item in enumerate(items):
        _check_keys(item, allowed, f"{where}[{i}]")
        if "name" not in item:
            raise GridError(f"{where}[{i}]: missing 'name'")
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise GridError(f"{where}[{i}].params must be a table")
        out.append(Choice(item["name"], tuple(sorted(params.items())), tuple(item.get("languages", ())),
                          tuple(item.get("layers", ())), tuple(item.get("seeds", ())), tuple(item.get("tasks", ()))))
    return tuple(out)


def load_grid(path: Path, extra_files: tuple[str, ...] = ()) -> GridSpec:
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
        _check_keys(item, {"name", "layers", "batch_size", "per_language"}, f"{path}: encoders[{i}]")
        if not item.get("layers"):
            raise GridError(f"{path}: encoders[{i}] needs 'layers' (absolute hidden_states indices)")
        per_language = item.get("per_language", {})
        if not isinstance(per_language, dict) or not all(isinstance(v, str) for v in per_language.values()):
            raise GridError(f"{path}: encoders[{i}].per_language must map language codes to encoder names")
        encoders.append(EncoderChoice(item["name"], tuple(item["layers"]), item.get("batch_size", 64),
                                      tuple(sorted(per_language.items()))))
    spec = GridSpec(
        name=raw.get("name", path.stem),
        encoders=tuple(encoders),
        methods=_choices(raw.get("methods", []), f"{path}: methods", {"name", "params", "tasks"}),
        tasks=_choices(raw.get("tasks", []), f"{path}: tasks", {"name", "params", "languages", "layers", "seeds"}),
        seeds=tuple(raw.get("seeds", [0])),
        languages=tuple(raw.get("languages", [])),
    )
    if not (spec.encoders and spec.methods and spec.tasks):
        raise GridError(f"{path}: a grid needs at least one encoder, method and task")
    for choice in spec.methods:
        try:
            instantiate(get_method(choice.name, extra_files), choice.params)
        except RegistryError as error:
            raise GridError(f"{path}: {error}") from None
        unknown = set(choice.tasks) - {task.name for task in spec.tasks}
        if unknown:
            raise GridError(f"{path}: method {choice.label} lists tasks {sorted(unknown)} that the grid does not run")
    all_layers = {layer for encoder in spec.encoders for layer in encoder.layers}
    for choice in spec.tasks:
        try:
            instantiate(get_task(choice.name, extra_files), choice.params)
        except RegistryError as error:
            raise GridError(f"{path}: {error}") from None
        if set(choice.layers) - all_layers:
            raise GridError(f"{path}: task {choice.name} asks for layers {sorted(set(choice.layers) - all_layers)} "
                            f"that no encoder lists (encoders' layers: {sorted(all_layers)})")
    return spec


def task_layers(choice: Choice, encoder: EncoderChoice) -> tuple[int, ...]:
    return tuple(layer for layer in encoder.layers if not choice.layers or layer in choice.layers)


def accepts(task, method_entry: Entry) -> bool:
    """Whether a task can score a method (e.g. the fine-tune protocol needs trainable weights)."""
    check = getattr(task, "accepts_method", None)
    return check(method_entry.spec) if check else True


def expand(spec: GridSpec, data_dir: Path, fingerprints: dict[str, str], extra_files: tuple[str, ...] = ()) -> list[Cell]:
    """Every cell a task accepts, ordered so that cells sharing an encoder and layer are adjacent (cache
    hits) and the languages of one (method, task, seed) follow each other (a trained head is reused)."""
    cells = []
    for task_choice in spec.tasks:
        task = instantiate(get_task(task_choice.name, extra_files), task_choice.params)
        found = task.languages(data_dir)
        wanted = task_choice.languages or spec.languages
        if wanted:
            unknown = [lang for lang in task_choice.languages if lang not in found]
            if unknown:
                raise GridError(f"task {task_choice.name}: languages {unknown} not found in the data (found {found})")
            found = [lang for lang in found if lang in wanted or any(part in wanted for part in lang.split("-"))]
        for encoder in spec.encoders:
            for layer in task_layers(task_choice, encoder):
                for method_choice in spec.methods:
                    if not accepts(task, get_method(method_choice.name, extra_files)):
                        continue
                    if method_choice.tasks and task_choice.name not in method_choice.tasks:
                        continue
                    for language in found:
                        for seed in task_choice.seeds or spec.seeds:
                            cells.append(Cell(encoder.label, fingerprints[encoder.label], layer, method_choice,
                                              task_choice, language, seed))
    return sorted(cells, key=lambda c: (c.encoder, c.layer, c.method.label, c.task.label, c.seed, c.language))
