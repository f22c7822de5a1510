"""Result rows (the public results.jsonl contract) and the append-only store.

Each cell's rows are appended in one step: the file is rewritten to a temporary file and renamed
over the old one, so a kill at any moment leaves either the old or the new file, never half a row.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ResultRow:
    run_id: str
    cell_id: str
    method: str
    method_label: str
    method_version: str
    method_params: dict
    method_origin: str
    category: str
    encoder: str
    encoder_fingerprint: str
    layer: int
    pooling: str
    task: str
    task_version: str
    protocol: str
    protocol_detail: dict
    kind: str  # "task" or "diagnostic"
    split: str
    source_language: str
    language: str
    subset: str
    metric: str
    value: float
    higher_is_better: bool
    is_main: bool
    n: int
    seed: int
    config_hash: str
    resolved_config: dict
    anchors: dict
    harness_version: str
    git_sha: str
    versions: dict
    started_at: str
    finished_at: str
    fit_seconds: float
    eval_seconds: float
    extra: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class ErrorRow:
    run_id: str
    cell_id: str
    method_label: str
    encoder: str
    layer: int
    task: str
    language: str
    seed: int
    error_type: str
    message: str
    traceback: str
    at: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)


def _atomic_write(path: Path, content: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `path`: old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_append(path: Path, lines: list[str]) -> None:
    old = path.read_bytes() if path.exists() else b""
    if old and not old.endswith(b"\n"):
        old = old[: old.rfind(b"\n") + 1]  # drop a torn last line (written by something else)
    _atomic_write(path, old + "".join(line + "\n" for line in lines).encode("utf-8"))


def version_free(config: dict) -> dict:
    """A resolved cell config without the parts that only say which code and weights produced it."""
    out = json.loads(json.dumps(config))
    out["encoder"].pop("fingerprint", None)
    out["method"].pop("version", None)
    out["task"].pop("version", None)
    return out


def superseded_cells(rows: list[dict], planned: dict[str, dict]) -> set[str]:
    """Cell ids in `rows` that a planned cell replaces: the same cell (encoder, layer, method, task and
    their parameters, language, seed) under an older task or method version or other encoder weights.

    `planned` maps the planned cell ids to their resolved configs."""
    current = {json.dumps(version_free(config), sort_keys=True) for config in planned.values()}
    return {row["cell_id"] for row in rows
            if row["cell_id"] not in planned and json.dumps(version_free(row["resolved_config"]), sort_keys=True) in current}


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON object ({error})") from None
    return rows


class ResultStore:
    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / "results.jsonl"
        self.errors_path = Path(out_dir) / "errors.jsonl"

    def finished_cells(self) -> set[str]:
        return {row["cell_id"] for row in read_jsonl(self.path)}

    def append(self, rows: list[ResultRow]) -> None:
        _atomic_append(self.path, [row.to_json() for row in rows])

    def append_error(self, row: ErrorRow) -> None:
        """Record a failed cell, once per distinct failure (a re-run failing the same way adds nothing)."""
        seen = {(e["cell_id"], e["error_type"], e["message"]) for e in read_jsonl(self.errors_path)}
        if (row.cell_id, row.error_type, row.message) not in seen:
            _atomic_append(self.errors_path, [row.to_json()])

    def drop_cells(self, cell_ids: set[str]) -> int:
        """Remove every result and error row of these cells (each file rewritten atomically); returns how
        many result rows went."""
        dropped = 0
        for path in (self.path, self.errors_path):
            rows = read_jsonl(path)
            kept = [row for row in rows if row["cell_id"] not in cell_ids]
            if len(kept) < len(rows):
                _atomic_write(path, "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"
                                            for row in kept).encode("utf-8"))
            if path == self.path:
                dropped = len(rows) - len(kept)
        return dropped

    def rows(self) -> list[dict]:
        """All rows, de-duplicated on (cell, metric, subset): the last one written wins."""
        latest = {(r["cell_id"], r["metric"], r.get("subset", "")): r for r in read_jsonl(self.path)}
        return list(latest.values())
