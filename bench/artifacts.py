"""Content-addressed store of fitted aligner states (`.npz` + JSON sidecar, no pickle)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

_SEP = "::"  # "/" is not safe inside npz member names


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = Path(root) / "artifacts"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The stored state, or None when there is none; an unreadable one (truncated by a kill, a full
        disk) is reported with its path and deleted, so the caller fits again."""
        path = self.root / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name.replace(_SEP, "/"): data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            logging.getLogger("alignbench").warning("artifact store: discarding unreadable %s (%s: %s); refitting",
                                                    path, type(error).__name__, error)
            path.unlink(missing_ok=True)
            return None

    def meta(self, key: str) -> dict:
        """The JSON sidecar written with a state ({} when there is none)."""
        path = self.root / f"{key}.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def save(self, key: str, state: dict[str, np.ndarray], meta: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.root)
        os.close(fd)
        try:
            np.savez(tmp, **{name.replace("/", _SEP): array for name, array in state.items()})
            (self.root / f"{key}.json").write_text(json.dumps(meta, sort_keys=True, indent=1, default=str))
            os.replace(tmp, self.root / f"{key}.npz")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
