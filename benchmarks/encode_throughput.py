"""Sentences per second of the harness encode path vs a bare `model(**batch)` loop.

Both use the same model, the same real sentences (Tatoeba, all languages found) and the same batch
size. The bare loop gets the same length-sorted batches, so the ratio measures the harness's own
overhead (tokenisation, pooling of every requested layer, copies back to numpy). The embedding
cache is not involved. Prints `ratio: X.XX` (harness / bare) last.

    python benchmarks/encode_throughput.py --data ../shared/data [--n 2000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.encoders.sources import resolve_encoder
from bench.paths import cache_dir, data_dir
from bench.specs import EncodeSpec
from tasks.tatoeba import Tatoeba, load_tatoeba


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--layers", default="8,12")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    root = data_dir(args.data)
    sentences = [s for lang in Tatoeba().languages(root) for s in load_tatoeba(root, lang)[0]][: args.n]
    encoder = resolve_encoder("e5-small-offline", cache_dir(), batch_size=args.batch_size)
    spec = EncodeSpec(layers=tuple(int(x) for x in args.layers.split(",")))
    model, tokenizer = encoder._load()
    ids = encoder.tokenize(sentences, spec)["input_ids"]
    batches = [encoder.pad([ids[i] for i in batch]) for batch in encoder.length_sorted_batches(ids)]

    def bare() -> None:
        with torch.inference_mode():
            for input_ids, mask in batches:
                model(input_ids=input_ids, attention_mask=mask)

    def harness() -> None:
        encoder.encode(sentences, "xx", spec)

    harness(), bare()  # warm-up
    timings = {"bare": [], "harness": []}
    for _ in range(args.repeats):
        for name, fn in (("bare", bare), ("harness", harness)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    rate = {name: len(sentences) / min(times) for name, times in timings.items()}
    print(f"sentences: {len(sentences)}  batch size: {args.batch_size}  layers: {spec.layers}  threads: {torch.get_num_threads()}")
    print(f"bare model(**batch) loop (pre-tokenised, same sorted batches): {rate['bare']:.1f} sentences/s")
    print(f"harness encode (tokenise + forward + pool {len(spec.layers)} layers): {rate['harness']:.1f} sentences/s")
    print(f"ratio: {rate['harness'] / rate['bare']:.2f}")


if __name__ == "__main__":
    main()
