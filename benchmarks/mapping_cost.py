"""Cost of offline mapping methods: fit time and peak memory per method, and warm-versus-cold evaluation.

1. fit: for one language and layer, each method is fitted on its default anchor budget (supervised: up to
   20k word links; anchor-free: 2,000 sentences' token states, up to 20k) in its own process, after a
   first pass has cached every embedding; prints fit seconds (reading cached anchors included) and the
   process's peak RSS.
2. warm vs cold: evaluating one new mapping method on Tatoeba, STS, RFEval and CBLI for that language,
   with an empty embedding cache (cold: encoding + alignment + fit + evaluation; the model directory is
   copied in, so building the offline encoder is not counted) and with every embedding cached (warm: the
   fitted map and the results deleted, so fit + evaluation). Target: warm at least 10x cheaper.

    python benchmarks/mapping_cost.py --data ../shared/data [--language de] [--layer 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHODS = {
    "procrustes": {"anchors": "words", "max_pairs": 20000},
    "linear": {"anchors": "words", "max_pairs": 20000},
    "gbdd": {"anchors": "parallel", "max_pairs": 2000},
    "fcnn": {"anchors": "words", "max_pairs": 20000},
    "real-nvp": {"anchors": "words", "max_pairs": 20000},
    "normalization": {},
    "vecmap-unsupervised": {},
    "muse-adversarial": {},
    "gan-real-nvp": {},
}


def fit_once(data: Path, cache: Path, language: str, layer: int, method: str, threads: int | None) -> dict:
    """Fit one method in this process (artifacts go to a scratch store, so the fit always runs)."""
    import dataclasses
    import tempfile

    from bench.anchors import evaluation_texts
    from bench.artifacts import ArtifactStore
    from bench.cache import CachedEncoder, EmbeddingCache
    from bench.encoders.sources import resolve_encoder
    from bench.grid import Cell, Choice
    from bench.plan import resolve
    from bench.registry import load_registry
    from bench.runner import AlignerBuilder, RunOptions
    from tasks.tatoeba import Tatoeba

    options = RunOptions(data_dir=data, out_dir=Path(tempfile.mkdtemp()), cache_dir=cache, progress=False, threads=threads)
    base = CachedEncoder(resolve_encoder("e5-small-offline", cache, 64, threads), EmbeddingCache(cache), progress=False)
    registry = load_registry()
    evaluation_texts(data, registry)  # the leakage guard's texts: loaded before the clock starts
    builder = AlignerBuilder(options, ArtifactStore(Path(tempfile.mkdtemp())), registry)
    choice = Choice(method, tuple(sorted(METHODS[method].items())))
    cell = Cell("e5-small-offline", base.fingerprint, layer, choice, Choice("tatoeba"), language, 0)
    resolved = resolve(cell, registry, base, data)
    spec = dataclasses.replace(Tatoeba().encode_spec(layer), keep_tokens=False)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    _, provenance, fit_seconds = builder.build(resolved, base, spec)
    wall = time.perf_counter() - start
    return {"method": choice.label, "fit_s": round(fit_seconds, 2), "wall_s": round(wall, 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "rss_before_gib": round(rss_before / 2**20, 2), "encoder_calls": base.encoder_calls}


def evaluate_grid(data: Path, cache: Path, out: Path, language: str, layer: int, threads: int | None) -> dict:
    from bench.encoders.sources import resolve_encoder
    from bench.grid import Choice, EncoderChoice, GridSpec
    from bench.runner import Runner, RunOptions

    spec = GridSpec("mapping-cost", (EncoderChoice("e5-small-offline", (layer,)),),
                    (Choice("linear", (("anchors", "words"), ("max_pairs", 20000))),),
                    tuple(Choice(t) for t in ("tatoeba", "sts", "rfeval", "cbli")), (0,), (language,))
    options = RunOptions(data_dir=data, out_dir=out, cache_dir=cache, progress=False, threads=threads)
    start = time.perf_counter()
    summary = Runner(spec, options, lambda name, batch: resolve_encoder(name, cache, batch, threads)).run()
    return {"wall_s": round(time.perf_counter() - start, 1), "encode_s": round(summary.encode_seconds, 1),
            "cells": summary.done, "failed": summary.failed}


def child(args, *extra: str) -> dict:
    command = [sys.executable, __file__, "--data", str(args.data), "--work", str(args.work), "--language", args.language,
               "--layer", str(args.layer), *extra] + (["--threads", str(args.threads)] if args.threads else [])
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        sys.exit(f"{' '.join(extra)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/alignbench-mapping-cost"))
    parser.add_argument("--models", type=Path, default=None, help="a cache root whose models/ to copy (default: build)")
    parser.add_argument("--language", default="de")
    parser.add_argument("--layer", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--parts", default="fit,warm-cold")
    parser.add_argument("--fit-method", help=argparse.SUPPRESS)
    parser.add_argument("--grid-phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data, args.work = args.data.resolve(), args.work.resolve()
    if args.fit_method:
        print(json.dumps(fit_once(args.data, args.work / "cache", args.language, args.layer, args.fit_method, args.threads)))
        return
    if args.grid_phase:
        cache = args.work / ("cold-cache" if args.grid_phase == "cold" else "cache")
        out = args.work / f"out-{args.grid_phase}"
        print(json.dumps(evaluate_grid(args.data, cache, out, args.language, args.layer, args.threads)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    if args.models and not (args.work / "cache" / "models").is_dir():
        shutil.copytree(args.models / "models", args.work / "cache" / "models")
    parts = args.parts.split(",")
    if "fit" in parts:
        print(f"fit on {args.language}, layer {args.layer} (each in its own process; the first fills the cache)")
        for method in args.methods.split(","):
            r = child(args, "--fit-method", method)
            print(f"  {r['method']:<45} fit {r['fit_s']:8.2f} s   peak RSS {r['peak_rss_gib']:.2f} GiB "
                  f"(after loading {r['rss_before_gib']:.2f} GiB)", flush=True)
    if "warm-cold" in parts:
        cold_cache = args.work / "cold-cache"
        shutil.rmtree(cold_cache, ignore_errors=True)
        if (args.work / "cache" / "models").is_dir():
            shutil.copytree(args.work / "cache" / "models", cold_cache / "models")
        for phase in ("cold", "warm"):
            shutil.rmtree(args.work / f"out-{phase}", ignore_errors=True)
            if phase == "warm":  # the embeddings stay; the fitted map must be refitted
                shutil.rmtree(cold_cache / "artifacts", ignore_errors=True)
                shutil.rmtree(args.work / "cache", ignore_errors=True)
                cold_cache.rename(args.work / "cache")
            r = child(args, "--grid-phase", phase)
            print(f"{phase:>5}: linear[words] on tatoeba, sts, rfeval, cbli ({args.language}): {r['wall_s']:7.1f} s wall, "
                  f"{r['encode_s']:6.1f} s encoding, cells {r['cells']} (failed {r['failed']})", flush=True)
            if phase == "cold":
                cold = r["wall_s"]
            else:
                print(f"warm is {cold / max(r['wall_s'], 1e-9):.1f}x cheaper than cold (target >= 10x)")


if __name__ == "__main__":
    main()
