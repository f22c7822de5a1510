"""RFEval scoring time and word-alignment extraction time (issue 4's speed targets).

1. RFEval: the token states of every pair found are embedded once (through the embedding cache),
   then all segments are scored with exact EMD; the scoring time is printed alone and with the
   cache reads (target: all 2,240 WMT17 segments in < 60 s on 2 cores once embeddings are cached).
2. Word alignment: eflomal + grow-diag-final-and on every parallel language, without the alignment
   cache (the cost a first run pays), in sentence pairs per second.

    python benchmarks/rfeval_alignment.py --data ../shared/data [--cache DIR] [--layer 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.anchors import parallel_languages, parallel_sentences
from bench.cache import CachedEncoder, EmbeddingCache
from bench.encoders.sources import resolve_encoder
from bench.languages import PIVOT
from bench.paths import cache_dir, data_dir
from bench.wordalign import align
from bench.wordvectors import content_tokens
from tasks.rfeval import emd_similarities, rfeval_pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--cache")
    parser.add_argument("--layer", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-alignment", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root, cache = data_dir(args.data), cache_dir(args.cache)
    encoder = CachedEncoder(resolve_encoder("e5-small-offline", cache, batch_size=64, threads=args.threads),
                            EmbeddingCache(cache), progress=False)

    pairs = rfeval_pairs(root)
    start = time.perf_counter()
    tokens = {key: (content_tokens(encoder, list(p.sources), p.source_lang, args.layer)[0],
                    content_tokens(encoder, list(p.translations), p.target_lang, args.layer)[0])
              for key, p in pairs.items()}
    first = time.perf_counter() - start
    start = time.perf_counter()
    tokens = {key: (content_tokens(encoder, list(p.sources), p.source_lang, args.layer)[0],
                    content_tokens(encoder, list(p.translations), p.target_lang, args.layer)[0])
              for key, p in pairs.items()}
    cached_read = time.perf_counter() - start
    segments, start = 0, time.perf_counter()
    for key, (source, target) in tokens.items():
        emd_similarities(source, target)
        segments += len(source)
    scoring = time.perf_counter() - start
    print(f"rfeval: {len(pairs)} pairs ({', '.join(sorted(pairs))}), {segments} segments, layer {args.layer}")
    print(f"rfeval: embedding pass {first:.1f} s (0 if already cached), cached read {cached_read:.1f} s")
    print(f"rfeval: EMD scoring {scoring:.2f} s ({segments / scoring:.0f} segments/s); "
          f"with cached reads {scoring + cached_read:.2f} s (target < 60 s)")

    if args.skip_alignment:
        return
    total_pairs, total_seconds = 0, 0.0
    for lang in parallel_languages(root):
        texts = parallel_sentences(root, lang, 10**9, {}).pairs
        start = time.perf_counter()
        corpus = align(texts, lang, PIVOT, None)
        seconds = time.perf_counter() - start
        total_pairs, total_seconds = total_pairs + len(texts), total_seconds + seconds
        print(f"alignment {lang}-{PIVOT}: {len(texts)} sentence pairs in {seconds:.1f} s "
              f"({len(texts) / seconds:.0f} pairs/s), {len(corpus.word_pairs())} one-to-one word pairs")
    print(f"alignment: {total_pairs} sentence pairs in {total_seconds:.1f} s ({total_pairs / total_seconds:.0f} pairs/s)")


if __name__ == "__main__":
    main()
