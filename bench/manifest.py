"""File manifests: each file's size and sha256 recorded when a directory is written, checked before use.

A converted model directory (and, later, a trained checkpoint) is several hundred MB; hashing it on
every run costs seconds. So the check is the one git's index makes: a file whose size differs from
the record is bad (a truncation always changes the size); a file whose size matches but whose
modification time differs is hashed again; one whose size and modification time both match is taken
as recorded.
"""

from __future__ import annotations

import hashlib
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
