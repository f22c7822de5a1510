"""Wall time and peak memory of the frozen-feature transfer suite (NER, POS, DP, NLI; every language; 3 seeds).

Runs the frozen-protocol tasks of grids/transfer.toml three times, each phase in its own process so
that peak memory is measured per phase:
  cold    empty cache: encoding + head training + evaluation
  warm    embedding cache filled, trained heads deleted, fresh results: head training + evaluation
  resume  everything cached, same results folder: planning only (every cell already done)
Prints one line per phase and the encoding share of the cold run.

    python benchmarks/transfer_suite.py --data ../shared/data [--work /tmp/transfer-bench] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_phase(data: Path, work: Path, phase: str, grid: Path, threads: int | None) -> dict:
    from bench.encoders.sources import resolve_encoder
    from bench.grid import load_grid
    from bench.runner import Runner, RunOptions

    spec = load_grid(grid)
    frozen = tuple(t for t in spec.tasks if dict(t.params).get("protocol_name", "frozen") == "frozen")
    spec = dataclasses.replace(spec, tasks=frozen)
    cache = work / "cache"
    out = work / ("out-cold" if phase == "cold" else "out-warm")
    options = RunOptions(data_dir=data, out_dir=out, cache_dir=cache, tracking_uri=None, progress=False, threads=threads)
    start = time.perf_counter()
    summary = Runner(spec, options, lambda name, batch: resolve_encoder(name, cache, batch, threads)).run()
    wall = time.perf_counter() - start
    return {"phase": phase, "wall_s": round(wall, 1), "encode_s": round(summary.encode_seconds, 1),
            "cells_run": summary.done, "cells_failed": summary.failed, "cells_skipped": summary.skipped,
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/alignbench-transfer-bench"))
    parser.add_argument("--grid", type=Path, default=REPO / "grids" / "transfer.toml")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--phases", default="cold,warm,resume",
                        help="comma-separated; without cold, the cache already in --work is reused")
    parser.add_argument("--phase", choices=["cold", "warm", "resume"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    data, work = args.data.resolve(), args.work.resolve()
    if args.phase:
        print(json.dumps(run_phase(data, work, args.phase, args.grid, args.threads)))
        return
    phases = [p for p in ("cold", "warm", "resume") if p in args.phases.split(",")]
    if "cold" in phases and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for phase in phases:
        if phase == "warm":
            shutil.rmtree(work / "cache" / "heads", ignore_errors=True)
            shutil.rmtree(work / "out-warm", ignore_errors=True)
        command = [sys.executable, __file__, "--data", str(data), "--work", str(work), "--grid", str(args.grid),
                   "--phase", phase] + (["--threads", str(args.threads)] if args.threads else [])
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if done.returncode:
            sys.exit(f"{phase} phase failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{phase:>6}: {result['wall_s']:8.1f} s wall, {result['encode_s']:7.1f} s encoding, "
              f"peak RSS {result['peak_rss_gib']:.2f} GiB, cells run {result['cells_run']} "
              f"(failed {result['cells_failed']}, skipped {result['cells_skipped']})", flush=True)
    by_phase = {r["phase"]: r for r in results}
    if "cold" in by_phase:
        print(f"cold encoding share: {100 * by_phase['cold']['encode_s'] / by_phase['cold']['wall_s']:.0f}%")
    if "warm" in by_phase:
        warm = by_phase["warm"]["wall_s"]
        print(f"warm under 10 minutes: {'yes' if warm < 600 else 'no'} ({warm / 60:.1f} min)")


if __name__ == "__main__":
    main()
