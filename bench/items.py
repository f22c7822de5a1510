"""Per-item outcomes of each cell, next to its rows: `results/items/<cell_id>-<digest>.npz`.

One compressed npz per cell (no pickle): member `meta` is a JSON list naming, per score, its metric,
subset, statistic, scale and columns; members `<k>.ids` and `<k>.<column>` hold score k's arrays. The
name carries a digest of the content, so an unchanged re-run rewrites nothing, and a row names its
file in its `items` field. The file is written (atomically) before the rows are appended: a run killed
in between leaves a file no row names, which `alignbench prune` removes; the cell re-runs on resume.
Files are read only when asked for (`load`), never when the leaderboard reads rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from bench.results import _atomic_write
from bench.specs import Items, Score, Statistic

FOLDER = "items"


def _ids_array(ids: tuple) -> np.ndarray:
    array = np.asarray(ids)
    if array.dtype.kind not in "iu":  # strings, or a mixture: stored as text
        array = np.asarray([str(i) for i in ids])
    return array


def encode(scores: Iterable[Score]) -> tuple[bytes, str] | None:
    """The npz bytes and content digest of the scores' items (None when no score has items)."""
    arrays, meta = {}, []
    for k, score in enumerate(s for s in scores if s.items is not None):
        items = score.items
        meta.append({"metric": score.metric, "subset": score.subset, "statistic": items.statistic.value,
                     "scale": items.scale, "columns": sorted(items.columns)})
        arrays[f"{k}.ids"] = _ids_array(items.ids)
        for name in sorted(items.columns):
            arrays[f"{k}.{name}"] = np.asarray(items.columns[name])
    if not meta:
        return None
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
    return buffer.getvalue(), digest.hexdigest()[:16]


class ItemStore:
    def __init__(self, results_dir: Path):
        self.results_dir = Path(results_dir)
        self.root = self.results_dir / FOLDER

    def save(self, cell_id: str, scores: Iterable[Score]) -> str:
        """Write the cell's items; returns the path relative to the results folder ("" when none)."""
        encoded = encode(scores)
        if encoded is None:
            return ""
        content, digest = encoded
        path = self.root / f"{cell_id}-{digest}.npz"
        if not path.is_file():
            _atomic_write(path, content)
        return f"{FOLDER}/{path.name}"

    def load(self, name: str) -> dict[tuple[str, str], Items]:
        """(metric, subset) -> Items of the file a row names in its `items` field."""
        path = self.results_dir / name
        if not name or not path.is_file():
            raise FileNotFoundError(f"per-item results {path} are missing (re-run the cell to write them)")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                out = {}
                for k, entry in enumerate(meta):
                    columns = {c: data[f"{k}.{c}"] for c in entry["columns"]}
                    out[(entry["metric"], entry["subset"])] = Items(Statistic(entry["statistic"]),
                                                                  tuple(data[f"{k}.ids"].tolist()), columns,
                                                                  float(entry["scale"]))
                return out
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"per-item results {path} are unreadable: {type(error).__name__}: {error}") from error

    def orphans(self, referenced: set[str]) -> list[Path]:
        """Item files no row names (left by a run killed between writing items and rows, or by re-runs)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("*.npz") if f"{FOLDER}/{p.name}" not in referenced)
