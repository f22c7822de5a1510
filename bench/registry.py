"""Explicit registry of methods and tasks.

`@method(spec)` / `@task(spec)` only attach the spec to a class. Discovery happens on the first
call: it imports every module of the `methods` / `tasks` packages, entry points of the groups
`alignbench.methods` / `alignbench.tasks`, and any extra files given on the command line, and
keeps classes whose spec is defined in the module being scanned. Nothing happens at import.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import dataclasses
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.specs import MethodSpec, TaskSpec

_METHOD_ATTR = "__alignbench_method__"
_TASK_ATTR = "__alignbench_task__"


class RegistryError(LookupError):
    pass


def method(spec: MethodSpec):
    def attach(cls):
        setattr(cls, _METHOD_ATTR, spec)
        return cls

    return attach


def task(spec: TaskSpec):
    def attach(cls):
        setattr(cls, _TASK_ATTR, spec)
        return cls

    return attach


@dataclass(frozen=True)
class Entry:
    spec: Any
    cls: type
    origin: str

    @property
    def name(self) -> str:
        return self.spec.name


def _classes_in(module, attr: str) -> list[type]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__ and attr in vars(obj)
    ]


def _import_file(path: Path):
    path = Path(path).resolve()
    if not path.is_file():
        raise RegistryError(f"method/task file {path} does not exist")
    name = f"alignbench_user_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[name]
        raise RegistryError(f"{path}:{error.lineno}: syntax error in method/task file: {error.msg}") from None
    except Exception as error:
        del sys.modules[name]
        raise RegistryError(f"{path}: importing the method/task file raised {type(error).__name__}: {error}") from error
    return module


# What the runner calls on a plug-in; a class missing one of these is refused when it is registered
# (with the names it lacks), instead of failing inside some cell later.
METHOD_CONTRACT = ("needs", "fit", "transform")  # an Aligner (mode offline): bench/alignment.py
FINETUNER_CONTRACT = ("needs", "fit")  # a Finetuner (mode online, fit(data, model), a `seed` field): bench/finetune.py
TASK_TIME_CONTRACT = ("needs", "fit", "augment", "loss")  # a task-time method (mode task-time): bench/tasktime.py
TASK_CONTRACT = ("languages", "cell_languages", "encode_spec", "protocol", "requirements", "data_files",
                 "evaluation_texts", "evaluate")
SYNTHETIC_TASK_CONTRACT = ("evaluate_method",)


def _contract(spec) -> tuple[tuple[str, ...], str]:
    """(callables required, where the protocol is described) for a method or task spec."""
    if not isinstance(spec, MethodSpec):
        return TASK_CONTRACT + (SYNTHETIC_TASK_CONTRACT if spec.kind == "synthetic" else ()), "Task protocol in bench/taskapi.py"
    if spec.pretrained_encoder:  # the runner swaps the encoder; nothing is fitted
        return ("needs",), "MethodSpec.pretrained_encoder in bench/specs.py"
    if spec.trains_encoder:
        return FINETUNER_CONTRACT, "Finetuner protocol in bench/finetune.py"
    if spec.acts_at_task_time:
        return TASK_TIME_CONTRACT, "TrainingObjective protocol in bench/tasktime.py"
    return METHOD_CONTRACT, "Aligner protocol in bench/alignment.py"


def _check_contract(cls: type, spec, origin: str) -> None:
    required, protocol = _contract(spec)
    missing = [name for name in required if not callable(inspect.getattr_static(cls, name, None))]
    if isinstance(spec, MethodSpec) and spec.trains_encoder and (
            not dataclasses.is_dataclass(cls) or "seed" not in {f.name for f in dataclasses.fields(cls)}):
        missing.append("a dataclass field `seed: int` (the training seed)")
    if missing:
        kind = "method" if isinstance(spec, MethodSpec) else "task"
        raise RegistryError(f"{kind} {spec.name!r} ({origin}) lacks {', '.join(missing)}: see the {protocol}")


def _collect(package: str, group: str, attr: str, extra_files: tuple[str, ...]) -> dict[str, Entry]:
    found: dict[str, Entry] = {}

    def add(cls: type, origin: str):
        spec = vars(cls)[attr]
        _check_contract(cls, spec, origin)
        if spec.name in found:
            raise RegistryError(f"duplicate name {spec.name!r}: defined in {found[spec.name].origin} and in {origin}")
        found[spec.name] = Entry(spec, cls, origin)

    root = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for cls in _classes_in(module, attr):
            add(cls, f"{module.__name__} (built-in)")
    for entry_point in importlib.metadata.entry_points(group=group):
        module = entry_point.load()
        candidates = [module] if inspect.isclass(module) else _classes_in(module, attr)
        for cls in candidates:
            add(cls, f"entry point {entry_point.name} = {entry_point.value}")
    for file in extra_files:
        for cls in _classes_in(_import_file(Path(file)), attr):
            add(cls, f"file {file}")
    return found


@functools.cache
def methods(extra_files: tuple[str, ...] = ()) -> dict[str, Entry]:
    return _collect("methods", "alignbench.methods", _METHOD_ATTR, extra_files)


@functools.cache
def tasks(extra_files: tuple[str, ...] = ()) -> dict[str, Entry]:
    return _collect("tasks", "alignbench.tasks", _TASK_ATTR, extra_files)


@dataclass(frozen=True, eq=False)  # hashed by identity: one per invocation, a cache key
class Registry:
    """Every method and task of one invocation (built-ins, entry points and `--method-file` files),
    built once and passed down, so that nothing looks a name up without the extra files."""

    methods: dict[str, Entry]
    tasks: dict[str, Entry]
    extra_files: tuple[str, ...] = ()

    def method(self, name: str) -> Entry:
        return _lookup("method", name, self.methods)

    def task(self, name: str) -> Entry:
        return _lookup("task", name, self.tasks)


@functools.cache
def load_registry(extra_files: tuple[str, ...] = ()) -> Registry:
    extra = tuple(str(f) for f in extra_files)
    return Registry(methods(extra), tasks(extra), extra)


def _lookup(kind: str, name: str, registry: dict[str, Entry]) -> Entry:
    if name in registry:
        return registry[name]
    close = difflib.get_close_matches(name, registry, n=3)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise RegistryError(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(registry))})")


def get_method(name: str, extra_files: tuple[str, ...] = ()) -> Entry:
    return _lookup("method", name, methods(extra_files))


def get_task(name: str, extra_files: tuple[str, ...] = ()) -> Entry:
    return _lookup("task", name, tasks(extra_files))
