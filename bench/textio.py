"""Reading the original data formats with errors that name the file and the line."""

from __future__ import annotations

import math
from pathlib import Path


class DataFormatError(ValueError):
    def __init__(self, path: Path | str, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = Path(path), line


def require_file(path: Path, what: str) -> Path:
    if not Path(path).is_file():
        raise DataFormatError(path, None, f"missing {what}")
    return Path(path)


def read_lines(path: Path, what: str = "file", allow_empty: bool = False) -> list[str]:
    """All lines without their newline; an empty line is an error unless allowed."""
    path = require_file(path, what)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as error:
        raise DataFormatError(path, None, f"not UTF-8 ({error})") from error
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataFormatError(path, None, f"empty {what}")
    lines = [line.rstrip("\r") for line in lines]
    if not allow_empty:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise DataFormatError(path, number, f"empty line in {what}")
    return lines


def read_aligned(path_a: Path, path_b: Path, what: str) -> tuple[list[str], list[str]]:
    """Two line-aligned files (line i of one is the translation of line i of the other)."""
    a, b = read_lines(path_a, what), read_lines(path_b, what)
    if len(a) != len(b):
        raise DataFormatError(path_b, min(len(a), len(b)) + 1,
                              f"{what}: {len(b)} lines but {path_a.name} has {len(a)}; files must be line-aligned")
    return a, b


def split_columns(line: str, path: Path, number: int, expected: int | tuple[int, ...]) -> list[str]:
    fields = line.split("\t")
    allowed = (expected,) if isinstance(expected, int) else expected
    if len(fields) not in allowed:
        raise DataFormatError(path, number, f"expected {' or '.join(map(str, allowed))} tab-separated columns, got {len(fields)}")
    return fields


def parse_finite(raw: str, path: Path, number: int | None, what: str) -> float:
    """A float field that must be a finite number (nan, inf and overflowing values like 1e999 are refused)."""
    try:
        value = float(raw)
    except ValueError:
        raise DataFormatError(path, number, f"{what} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise DataFormatError(path, number, f"{what} {raw!r} is not a finite number")
    return value
