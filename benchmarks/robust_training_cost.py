"""Cost of each robust-training strategy relative to plain training (issue 13), in the same run.

Runs the frozen-protocol transfer tasks of the default grid (POS, DP, NER, XNLI at layer 8, one head
seed, one target language) for `original` (plain English head training) and for `robust-training` with
every strategy, on the grid's encoder. The embedding cache is shared with --cache (read; texts not yet
encoded are encoded and added), trained heads go to a fresh folder, so every head is trained here.
Prints, per task, the seconds of each cell (head training + evaluation; `eval_seconds` of its row)
and `ratio: X.XX` against plain training; synonym-augmentation's ratio includes encoding its copies
when they are not cached yet (the line says how many seconds of the run were encoding).

    python benchmarks/robust_training_cost.py --data ../shared/data [--lang de] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
TASKS = ("pos", "dp", "ner", "xnli")
STRATEGIES = ("random-perturbation", "adversarial", "synonym-augmentation")
SHARED = ("embeddings", "models", "guard", "alignments", "artifacts")  # cache folders reused, heads not


def _grid_spec(lang: str):
    """The default grid's transfer tasks (their parameters, so contents match), one seed, one language."""
    import dataclasses

    from bench.grid import Choice, GridSpec, load_grid

    default = load_grid(REPO / "grids" / "default.toml")
    tasks = tuple(dataclasses.replace(t, layers=(8,), seeds=(0,), languages=(lang,)) for t in default.tasks if t.name in TASKS)
    methods = (Choice("original"),) + tuple(Choice("robust-training", (("strategy", s),)) for s in STRATEGIES)
    encoder = next(e for e in default.encoders if e.name == "e5-small-offline")
    return GridSpec("robust-training-cost", (dataclasses.replace(encoder, layers=(8,)),), methods, tasks, (0,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "alignbench")
    parser.add_argument("--lang", default="de")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from bench.encoders.sources import resolve_encoder
    from bench.runner import RunOptions, Runner

    work = Path(tempfile.mkdtemp(prefix="robust-cost-"))
    cache = work / "cache"
    cache.mkdir()
    for name in SHARED:
        (args.cache / name).mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(args.cache / name)
    try:
        options = RunOptions(data_dir=args.data.resolve(), out_dir=work / "out", cache_dir=cache, tracking_uri=None,
                             progress=False, threads=args.threads)
        start = time.perf_counter()
        summary = Runner(_grid_spec(args.lang), options,
                         lambda name, batch: resolve_encoder(name, cache, batch, args.threads)).run()
        wall = time.perf_counter() - start
        seconds: dict[tuple[str, str], float] = defaultdict(float)
        seen = set()
        for line in (work / "out" / "results.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row["cell_id"] in seen:  # a cell's rows share its timing
                continue
            seen.add(row["cell_id"])
            strategy = row["method_params"]["strategy"] if row["method"] == "robust-training" else "plain"
            seconds[(row["task"], strategy)] += row["eval_seconds"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{summary.done} cells run, {summary.failed} failed, {summary.not_applicable} not applicable; "
          f"{wall:.0f} s wall, {summary.encode_seconds:.0f} s of it encoding; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB; language {args.lang}, layer 8, seed 0")
    for task in TASKS:
        plain = seconds.get((task, "plain"))
        if not plain:
            continue
        parts = [f"plain {plain:6.1f} s"]
        for strategy in STRATEGIES:
            if (task, strategy) in seconds:
                parts.append(f"{strategy} {seconds[(task, strategy)]:6.1f} s (ratio: {seconds[(task, strategy)] / plain:.2f})")
        print(f"{task:>5}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
