"""Where data, caches and outputs live. Resolved on demand, never at import."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "ALIGNBENCH_DATA"
CACHE_ENV = "ALIGNBENCH_CACHE"


class DataDirError(FileNotFoundError):
    pass


def data_dir(explicit: str | Path | None = None) -> Path:
    """The local data root: `--data`, else $ALIGNBENCH_DATA."""
    value = explicit or os.environ.get(DATA_ENV)
    if not value:
        raise DataDirError(f"no data directory: pass --data DIR or set {DATA_ENV} (e.g. ../shared/data)")
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise DataDirError(f"data directory {path} does not exist")
    return path


def cache_dir(explicit: str | Path | None = None) -> Path:
    """The cache root: `--cache`, else $ALIGNBENCH_CACHE, else $XDG_CACHE_HOME/alignbench."""
    value = explicit or os.environ.get(CACHE_ENV)
    if value:
        return Path(value).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alignbench"
