"""File manifests: each file's size and sha256 recorded when a directory is written, checked before use.

A converted model directory (and, later, a trained checkpoint) is several hundred MB; hashing it on
every run costs seconds. So the check is the one git's index makes: a file whose size differs from
the record is bad (a truncation always changes the size); a file whose size matches but whose
modification time differs is hashed again; one whose size and modification time both match is taken
as recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_files(directory: Path, names: list[str]) -> dict[str, dict]:
    """{name: {"size", "sha256", "mtime_ns"}} for files of `directory` (call after the last write)."""
    out = {}
    for name in sorted(names):
        path = Path(directory) / name
        stat = path.stat()
        out[name] = {"size": stat.st_size, "sha256": sha256_of(path), "mtime_ns": stat.st_mtime_ns}
    return out


def manifest_problems(directory: Path, files: dict[str, dict]) -> list[str]:
    """What differs between `directory` and its recorded `files` (empty when it matches), path first."""
    problems = []
    for name, record in sorted(files.items()):
        path = Path(directory) / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        stat = path.stat()
        if stat.st_size != record["size"]:
            problems.append(f"{path}: {stat.st_size} bytes, {record['size']} recorded")
        elif stat.st_mtime_ns != record["mtime_ns"] and sha256_of(path) != record["sha256"]:
            problems.append(f"{path}: content differs from the recorded sha256")
    return problems


@contextlib.contextmanager
def staging_for(target: Path):
    """A fresh `.building-*` folder beside `target` to write into; removed unless `publish` moved it
    into place (a kill leaves it for `bench.cache.sweep_temporary`)."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=Path(target).parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, target: Path, marker_name: str, marker: dict) -> Path:
    """Record every file of `staging` (size, sha256) in `marker`, write it as `marker_name`, and rename
    `staging` to `target`, replacing an older copy: readers see the old directory or the new one."""
    files = record_files(staging, [p.name for p in Path(staging).iterdir() if p.is_file()])
    (Path(staging) / marker_name).write_text(json.dumps({**marker, "files": files}, indent=1, sort_keys=True, default=str))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide a shared cache from other users
    if Path(target).exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return Path(target)


def directory_problem(directory: Path, marker_name: str, fingerprint: str) -> str | None:
    """None when `directory` was published with this `fingerprint` and every file matches its record;
    else what is wrong, naming the file."""
    marker = Path(directory) / marker_name
    if not marker.is_file():
        return f"no {marker_name}" if Path(directory).exists() else "not built yet"
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError) as error:
        return f"{marker}: unreadable ({type(error).__name__})"
    if recorded.get("fingerprint") != fingerprint:
        return f"{marker}: records another fingerprint"
    if "files" not in recorded:
        return f"{marker}: no recorded file sizes and hashes (written by an older alignbench)"
    problems = manifest_problems(directory, recorded["files"])
    return "; ".join(problems) if problems else None
