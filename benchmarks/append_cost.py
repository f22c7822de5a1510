"""Time to append one cell's rows to results.jsonl of 1k and of 100k rows (issue 11).

An append used to rewrite and fsync the whole file (cost growing with the file, so a grid's I/O grew
with the square of its size); it is now one O_APPEND write under a lock. Prints the median time per
append for each file size and `ratio: X.XX` (100k-row file over 1k-row file; near 1 = independent of
the file's size), and the same for the old rewrite-everything append as the baseline, in the same run.

    python benchmarks/append_cost.py [--appends 30] [--rows-per-cell 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.results import _atomic_write, locked_append


def _rewrite_append(path: Path, lines: list[str]) -> None:
    """The pre-issue-11 append: read the file, rewrite all of it to a temp file, fsync, rename."""
    old = path.read_bytes() if path.exists() else b""
    _atomic_write(path, old + "".join(line + "\n" for line in lines).encode("utf-8"))


def _row(i: int) -> str:
    # about the size of a real row (resolved config, protocol detail, anchors provenance)
    return json.dumps({"cell_id": f"cell{i // 8:08d}", "metric": f"m{i % 8}", "subset": "", "value": i * 0.5,
                       "run_id": "bench", "started_at": "t", "cell_rows": 8, "padding": "x" * 2000})


def _median_append(append, rows: int, appends: int, per_cell: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.jsonl"
        path.write_text("".join(_row(i) + "\n" for i in range(rows)))
        os.sync()  # start from a clean page cache: the first fsync must not flush the set-up's writes
        times = []
        for k in range(appends):
            lines = [_row(rows + k * per_cell + j) for j in range(per_cell)]
            start = time.perf_counter()
            append(path, lines)
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=30)
    parser.add_argument("--rows-per-cell", type=int, default=8)
    args = parser.parse_args()
    results = {}
    for name, append in (("locked O_APPEND (now)", locked_append), ("rewrite + rename (before)", _rewrite_append)):
        small = _median_append(append, 1_000, args.appends, args.rows_per_cell)
        large = _median_append(append, 100_000, args.appends, args.rows_per_cell)
        results[name] = (small, large)
        print(f"{name:<28} 1k rows: {small * 1000:8.2f} ms   100k rows: {large * 1000:8.2f} ms   "
              f"ratio 100k/1k: {large / small:6.2f}")
    now, before = results["locked O_APPEND (now)"], results["rewrite + rename (before)"]
    print(f"speed-up at 100k rows: {before[1] / now[1]:.1f}x")
    print(f"ratio: {now[1] / now[0]:.2f}")


if __name__ == "__main__":
    main()
