"""Digests of what a cell's numbers depend on besides its configuration: code and data.

- **Code**: the source of the module that defines the method (or task) class, plus every module of
  the `methods` / `tasks` packages it imports, transitively (a method file's private helpers such as
  `methods/_unsupervised.py`). A `--method-file` is hashed the same way. Edits to the shared harness
  (`bench/`) are not included: they change behaviour through versions, not silently per method. The
  one exception is the Finetuners' training library (`bench.finetune`: the training loop, the batching
  of word states, checkpoint selection, with the word-position and criterion code it runs from
  `bench.wordvectors` and `bench.diagnostics`), which is the substance of every weight-changing method:
  a method that imports it has them in its digest, so an edit re-keys its checkpoints and re-runs its
  cells (tasks that use those modules for evaluation do not).
- **Data**: the content of every file a cell reads (its task's `data_files`, and for a method that
  trains on something, the anchor source files) and, for such a method, the guarded texts it trains on
  (`bench.plan.training_texts_digest`: after the leakage filter, so a new evaluation set changes the
  digest only when it bans a training item).

A finished cell whose recorded digests differ from the planned ones is stale and runs again.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Iterable

PLUGIN_PACKAGES = ("methods", "tasks")
# Harness modules whose code decides what a trained method learns, each with the harness modules it runs
# (word positions, the selection criterion): followed into the digest of a module that imports the key.
TRAINING_MODULES = {"bench.finetune": ("bench.wordvectors", "bench.diagnostics"),
                    "bench.tasktime": ()}  # how a task trains under a task-time method (step loss, augmentation)


def _module_file(name: str) -> Path | None:
    module = sys.modules.get(name)
    file = module.__file__ if module is not None and hasattr(module, "__file__") else None
    if file is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, AttributeError, ValueError):  # `from methods.x import name`: not a module
            return None
        file = spec.origin if spec is not None else None
    return Path(file) if file and file.endswith(".py") else None


def _imported_plugin_modules(path: Path, package: str | None) -> set[str]:
    stat = os.stat(path)
    return set(_imports(str(path), package, stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=1024)
def _imports(path_name: str, package: str | None, size: int, mtime_ns: int) -> tuple[str, ...]:
    """Modules of the plug-in packages (and `TRAINING_MODULES`) that the file imports (absolute or
    relative), memoised by the file's size and modification time (an edited file is parsed again)."""
    path = Path(path_name)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            followed = name.split(".")[0] in PLUGIN_PACKAGES or name in TRAINING_MODULES
            if followed and name.count(".") >= 1 and _module_file(name) is not None:
                found.add(name)
    return tuple(sorted(found))


def module_source_digest(module_name: str) -> str:
    """sha256 over the source of `module_name` and the plug-in modules it imports, transitively."""
    digest = hashlib.sha256()
    for path in sorted(digest_sources(module_name).values(), key=lambda p: p.name):
        digest.update(f"{path.name}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def digest_sources(module_name: str) -> dict[str, Path]:
    """Module name -> source file of everything `module_source_digest(module_name)` covers."""
    seen: dict[str, Path] = {}
    todo = [module_name]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        module = sys.modules.get(name)
        package = module.__package__ if module is not None else name.rpartition(".")[0]
        todo.extend(_imported_plugin_modules(path, package) - set(seen))
        todo.extend(set(TRAINING_MODULES.get(name, ())) - set(seen))
    return seen


def class_source_digest(cls: type) -> str:
    return module_source_digest(cls.__module__)


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """Content hash of one file, memoised per process by (path, size, modification time)."""
    stat = os.stat(path)
    return _file_digest(str(path), stat.st_size, stat.st_mtime_ns)


def files_digest(files: Iterable[Path], root: Path, memo: dict | None = None) -> str:
    """One digest over (path relative to `root`, content) of every file, in path order; missing files
    count as absent. `memo` (kept for one plan) saves re-reading the same files' entries for every cell:
    a grid's anchored cells all list the same anchor files."""
    memo = {} if memo is None else memo
    entries = []
    for name in {os.fspath(f) for f in files}:
        found = memo.get((name, root))
        if found is None:
            path = Path(name)
            relative = os.path.relpath(path, root) if path.is_absolute() else name
            content = file_digest(path) if path.is_file() else "absent"
            found = memo[(name, root)] = (path.parts, f"{relative}\0{content}\n".encode())
        entries.append(found)
    digest = hashlib.sha256()
    for _, entry in sorted(entries, key=lambda item: item[0]):
        digest.update(entry)
    return digest.hexdigest()
