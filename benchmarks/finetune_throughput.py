"""Training throughput of each Finetuner on the offline encoder (issue 12): sentence pairs per second of
the method's `fit`, next to a bare training loop (same model, same frozen parameters, same batches and
batch size, one forward + backward of both sides with a trivial loss, Adam) in the same process, with
`ratio: X.XX` (method over bare loop; target >= 0.9), wall time per epoch at the method's default
budget, and the peak resident memory of the process.

    python benchmarks/finetune_throughput.py --data ../shared/data [--methods joint-align] [--pairs 96] [--lang de]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _training_data(data_dir: Path, lang: str, pairs: int, cache: Path, registry):
    from bench.anchors import evaluation_texts, parallel_sentences
    from bench.finetune import TrainingData
    from bench.wordalign import align

    text_pairs = parallel_sentences(data_dir, lang, 10**9, evaluation_texts(data_dir, registry, cache))
    corpus = align(text_pairs.pairs, lang, "en", cache)
    keep = list(range(min(pairs, len(corpus))))
    sub = dataclasses.replace(corpus, source=tuple(corpus.source[i] for i in keep), target=tuple(corpus.target[i] for i in keep),
                              links=tuple(corpus.links[i] for i in keep))
    return TrainingData("en", (lang,), parallel={lang: tuple(text_pairs.pairs[i] for i in keep)}, word_alignments={lang: sub})


def _bare_loop(model, examples, batch_size: int, max_length: int, layer: int) -> float:
    import torch

    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=1e-5)
    model.module.train()
    start = time.perf_counter()
    for first in range(0, len(examples), batch_size):
        batch = examples[first:first + batch_size]
        optimizer.zero_grad()
        ids, mask, _ = model.word_batch([b[0] for b in batch] + [b[1] for b in batch], max_length)
        model.hidden(ids, mask, layer).pow(2).mean().backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "alignbench"))
    parser.add_argument("--methods", nargs="*", default=None, help="default: every registered Finetuner")
    parser.add_argument("--pairs", type=int, default=96, help="sentence pairs timed per method")
    parser.add_argument("--lang", default="de")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from bench.encoders.offline_e5 import build_e5_model_dir
    from bench.finetune import TrainableModel
    from bench.registry import load_registry
    from bench.specs import Mode

    torch.set_num_threads(args.threads)
    registry = load_registry(())
    names = args.methods or sorted(n for n, e in registry.methods.items() if e.spec.mode is Mode.ONLINE)
    data_dir, cache = Path(args.data).resolve(), Path(args.cache)
    model_dir = build_e5_model_dir(cache)
    data = _training_data(data_dir, args.lang, args.pairs, cache, registry)
    print(f"{args.pairs} {args.lang}-en sentence pairs, {args.threads} threads, model {model_dir.name}")
    for name in names:
        entry = registry.method(name)
        method = entry.cls()
        method.sentences_per_language = args.pairs
        method.epochs = 1
        model = TrainableModel(model_dir)
        start = time.perf_counter()
        method.fit(data, model)
        fit_seconds = time.perf_counter() - start
        pairs = method.record_["sentence_pairs"]
        bare_model = TrainableModel(model_dir)
        bare_model.freeze(embeddings=method.freeze_embeddings)
        bare_seconds = _bare_loop(bare_model, method.examples(data), method.batch_size, method.max_length, method.layer)
        default = entry.cls()
        languages = 8  # languages with parallel data in the shared data
        per_epoch = fit_seconds / pairs * default.sentences_per_language * languages
        print(f"{name}: {pairs / fit_seconds:.2f} pairs/s (fit, {method.record_['steps']} steps of {method.batch_size}) vs "
              f"{pairs / bare_seconds:.2f} pairs/s (bare loop); ratio: {bare_seconds / fit_seconds:.2f}; "
              f"~{per_epoch / 60:.0f} min per epoch at the default budget ({default.sentences_per_language} pairs x "
              f"{languages} languages); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


if __name__ == "__main__":
    main()
