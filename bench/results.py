"""Result rows (the public results.jsonl contract) and the append-only store.

Each cell's rows are appended with one `write` to the end of the file (O_APPEND) under an exclusive
`flock`, then fsynced: the cost of an append does not grow with the file, concurrent appenders never
interleave, and a kill mid-write leaves at most a torn last line, which readers ignore and the next
run cuts off (`repair`). A cell run again (its code or data changed) appends a new group of rows; the
latest group of a cell is the one that counts (`rows`), and `alignbench prune` drops the older ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
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
    inputs: dict = field(default_factory=dict)  # code and data digests the values depend on (bench.provenance)
    cell_rows: int = 0  # how many rows this run of the cell wrote: a group with fewer is a torn append, ignored
    items: str = ""  # the per-item outcomes behind `value`, relative to the results folder (bench.items); "" = none
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, content: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `path`: old or new, never half.
    The new file gets the mode a plain `open` would give it (mkstemp's is 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _tail_lines(handle, size: int):
    """Complete lines of the file's first `size` bytes, last first, each with the offset where it starts."""
    position, carry = size, b""
    while position > 0:
        start = max(0, position - (1 << 16))
        handle.seek(start)
        chunk = handle.read(position - start) + carry
        parts = chunk.split(b"\n")
        carry = parts[0]  # may continue into the previous block
        offset = start + len(parts[0]) + 1
        found = []
        for part in parts[1:]:
            found.append((offset, part))
            offset += len(part) + 1
        yield from reversed(found)
        position = start
    if carry:
        yield 0, carry


def _cut_torn_tail(handle) -> int:
    """Truncate an open (binary, read-write) results file so that it ends with a complete append: a last
    line without its newline (a writer killed mid-write) goes, and so do the lines before it of the same
    torn append (a cell's group with fewer rows than its `cell_rows`). Returns the bytes cut."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return 0
    handle.seek(size - 1)
    keep = size
    if handle.read(1) != b"\n":
        keep = next((offset for offset, _ in _tail_lines(handle, size)), 0)  # the torn line's start
        keep = keep if keep < size else 0
    group, key, expected, group_start = 0, None, 0, keep
    for offset, line in _tail_lines(handle, keep):
        if offset + len(line) >= keep:  # the part after `keep` was already judged
            continue
        try:
            row = json.loads(line)
            row_key = (row["cell_id"], row.get("run_id"), row.get("started_at"))
        except (ValueError, KeyError, TypeError):
            break
        if key is not None and row_key != key:
            break
        key, group, expected, group_start = row_key, group + 1, row.get("cell_rows", 0), offset
        if group >= expected:
            break
    if key is not None and group < expected:
        keep = group_start
    if keep < size:
        handle.truncate(keep)
    return size - keep


def locked_append(path: Path, lines: list[str]) -> None:
    """Append whole lines in one write under an exclusive flock (safe across processes), then fsync.
    A torn last line left by a killed writer is cut off first, so it never glues onto a new row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    with open(path, "ab+", buffering=0) as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            _cut_torn_tail(handle)
            view = memoryview(data)
            while view:  # one write(2) on O_APPEND in practice; loop only on a short write
                view = view[os.write(handle.fileno(), view):]
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def repair(path: Path) -> int:
    """Cut a torn last line (a crash mid-append) off `path`; returns the bytes removed."""
    if not Path(path).is_file():
        return 0
    with open(path, "rb+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            return _cut_torn_tail(handle)
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def version_free(config: dict) -> dict:
    """A resolved cell config without the parts that only say which code and weights produced it (a task's
    version and its protocol id, which a new version may rename)."""
    out = json.loads(json.dumps(config))
    out["encoder"].pop("fingerprint", None)
    out["method"].pop("version", None)
    out["task"].pop("version", None)
    out["task"].pop("protocol", None)
    return out


def superseded_cells(rows: list[dict], planned: dict[str, dict]) -> set[str]:
    """Cell ids in `rows` that a planned cell replaces: the same cell (encoder, layer, method, task and
    their parameters, language, seed) under an older task or method version or other encoder weights.

    `planned` maps the planned cell ids to their resolved configs."""
    current = {json.dumps(version_free(config), sort_keys=True) for config in planned.values()}
    return {row["cell_id"] for row in rows
            if row["cell_id"] not in planned and json.dumps(version_free(row["resolved_config"]), sort_keys=True) in current}


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a results.jsonl / errors.jsonl file: each non-blank line a JSON object with a `cell_id`.

    A last line without its newline that does not parse is a torn append (a writer killed mid-write):
    it is ignored here and cut off by the next run (`repair`); anywhere else a bad line is an error."""
    from bench.textio import DataFormatError

    if not Path(path).exists():
        return []
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    torn_tail = not text.endswith("\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if torn_tail and number == len(lines):
                break
            raise DataFormatError(path, number, f"not a JSON object ({error})") from None
        if not isinstance(row, dict):
            raise DataFormatError(path, number, f"not a JSON object (a {type(row).__name__})")
        if "cell_id" not in row:
            raise DataFormatError(path, number, "row without the required field 'cell_id'")
        rows.append(row)
    return rows


def latest_groups(rows: list[dict]) -> dict[str, list[dict]]:
    """cell id -> the rows of its latest complete append (one run of the cell: same run id and start
    time). A group with fewer rows than its `cell_rows` was torn by a crash and does not count."""
    groups: dict[str, list[tuple[tuple, list[dict]]]] = {}
    for row in rows:
        key = (row.get("run_id"), row.get("started_at"))
        runs = groups.setdefault(row["cell_id"], [])
        if not runs or runs[-1][0] != key:
            runs.append((key, [row]))
        else:
            runs[-1][1].append(row)
    latest = {}
    for cell, runs in groups.items():
        complete = [group for _, group in runs if len(group) >= group[0].get("cell_rows", 0)]
        if complete:
            latest[cell] = complete[-1]
    return latest


class StoreLockedError(RuntimeError):
    pass


class ResultStore:
    """results.jsonl and errors.jsonl of one output folder."""

    def __init__(self, out_dir: Path, results_path: Path | None = None):
        self.path = Path(results_path) if results_path else Path(out_dir) / "results.jsonl"
        self.errors_path = self.path.with_name("errors.jsonl")
        self.not_applicable_path = self.path.with_name("not_applicable.jsonl")

    @contextlib.contextmanager
    def exclusive(self):
        """Hold the folder's run lock: a second `run` on the same output folder stops with a clear error
        instead of running every cell twice."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(".run.lock")
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise StoreLockedError(f"{self.path.parent}: another alignbench run is writing here ({holder}); "
                                       "wait for it to finish or use another --out") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield self
            finally:
                handle.truncate(0)
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def repair(self) -> int:
        """Cut torn last lines (a crash mid-append) off both files; returns the bytes removed."""
        return repair(self.path) + repair(self.errors_path)

    def finished(self) -> dict[str, dict]:
        """cell id -> the `inputs` digests recorded with its latest rows ({} for rows that predate them)."""
        return {cell: group[0].get("inputs", {}) for cell, group in latest_groups(read_jsonl(self.path)).items()}

    def finished_cells(self) -> set[str]:
        return set(self.finished())

    def append(self, rows: list[ResultRow]) -> None:
        locked_append(self.path, [row.to_json() for row in rows])

    def append_error(self, row: ErrorRow) -> None:
        """Record a failed cell, once per distinct failure (a re-run failing the same way adds nothing)."""
        seen = {(e["cell_id"], e["error_type"], e["message"]) for e in read_jsonl(self.errors_path)}
        if (row.cell_id, row.error_type, row.message) not in seen:
            locked_append(self.errors_path, [row.to_json()])

    def errors(self) -> list[dict]:
        """The latest failure of every cell that has no result since: a cell that succeeded afterwards
        shows its result; one that failed after its last result (its data or code changed and the re-run
        failed) shows the failure, and `current_rows` leaves its older result out."""
        finished = {cell: group[0]["finished_at"] for cell, group in latest_groups(read_jsonl(self.path)).items()}
        latest: dict[str, dict] = {}
        for error in read_jsonl(self.errors_path):
            latest[error["cell_id"]] = error
        return [e for cell, e in latest.items() if cell not in finished or e["at"] >= finished[cell]]

    def current_rows(self) -> list[dict]:
        """`rows` without the cells whose latest attempt failed: what the leaderboard shows."""
        failed = {e["cell_id"] for e in self.errors()}
        return [row for row in self.rows() if row["cell_id"] not in failed]

    def write_not_applicable(self, grid: str, entries: list[dict]) -> None:
        """Replace this grid's "not applicable" listing (sorted, so an unchanged plan rewrites nothing)."""
        others = [e for e in read_jsonl(self.not_applicable_path) if e.get("grid") != grid]
        new = sorted(others + [{"grid": grid, **e} for e in entries], key=lambda e: json.dumps(e, sort_keys=True))
        content = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in new).encode("utf-8")
        if (self.not_applicable_path.read_bytes() if self.not_applicable_path.is_file() else b"") != content:
            if new or self.not_applicable_path.is_file():
                _atomic_write(self.not_applicable_path, content)

    def not_applicable(self) -> list[dict]:
        return read_jsonl(self.not_applicable_path)

    def drop_cells(self, cell_ids: set[str]) -> int:
        """Remove every result and error row of these cells (each file rewritten atomically); returns how
        many result rows went."""
        return self._rewrite(lambda rows: [row for row in rows if row["cell_id"] not in cell_ids],
                             lambda errors: [e for e in errors if e["cell_id"] not in cell_ids])

    def drop_older_groups(self) -> int:
        """Remove the rows of earlier runs of cells that ran again (their code or data changed), and the
        failure records of cells that have succeeded since."""
        def keep_latest(rows):
            latest = {id(row) for group in latest_groups(rows).values() for row in group}
            return [row for row in rows if id(row) in latest]

        def key(error: dict) -> tuple:
            return error["cell_id"], error["at"], error["message"]

        current = {key(e) for e in self.errors()}
        return self._rewrite(keep_latest, lambda errors: [e for e in errors if key(e) in current])

    def _rewrite(self, keep_rows, keep_errors) -> int:
        dropped = 0
        for path, keep in ((self.path, keep_rows), (self.errors_path, keep_errors)):
            rows = read_jsonl(path)
            kept = keep(rows)
            if len(kept) < len(rows):
                _atomic_write(path, "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"
                                            for row in kept).encode("utf-8"))
            if path == self.path:
                dropped = len(rows) - len(kept)
        return dropped

    def rows(self) -> list[dict]:
        """The rows of every cell's latest run (de-duplicated on metric and subset)."""
        latest = {}
        for group in latest_groups(read_jsonl(self.path)).values():
            for row in group:
                latest[(row["cell_id"], row["metric"], row.get("subset", ""))] = row
        return list(latest.values())
