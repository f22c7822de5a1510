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
    """The guarded resources of every Finetuner for one language, cut to the first `pairs` sentence pairs."""
    from bench.anchors import dictionary_pairs, evaluation_texts, parallel_sentences
    from bench.finetune import TrainingData
    from bench.wordalign import align

    banned = evaluation_texts(data_dir, registry, cache)
    text_pairs = parallel_sentences(data_dir, lang, 10**9, banned)
    dictionary = dictionary_pairs(data_dir, lang, 20000, banned)
    corpus = align(text_pairs.pairs, lang, "en", cache)
    keep = list(range(min(pairs, len(corpus))))
    sub = dataclasses.replace(corpus, source=tuple(corpus.source[i] for i in keep), target=tuple(corpus.target[i] for i in keep),
                              links=tuple(corpus.links[i] for i in keep))
    return TrainingData("en", (lang,), parallel={lang: tuple(text_pairs.pairs[i] for i in keep)}, word_alignments={lang: sub},
                        dictionary={lang: tuple(dictionary.pairs)})


def _bare_loop(model, pairs, batch_size: int, max_length: int, layer: int) -> float:
    """Seconds for one forward + backward of both sides of every batch of `pairs` with a trivial loss."""
    import torch

    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=1e-5)
    model.module.train()
    start = time.perf_counter()
    for first in range(0, len(pairs), batch_size):
        batch = pairs[first:first + batch_size]
        optimizer.zero_grad()
        ids, mask = model.batch([a for a, _ in batch] + [b for _, b in batch], max_length)
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

    torch.set_num_threads(args.threads)
    registry = load_registry(())
    names = args.methods or sorted(n for n, e in registry.methods.items() if e.spec.trains_encoder)
    data_dir, cache = Path(args.data).resolve(), Path(args.cache)
    model_dir = build_e5_model_dir(cache)
    data = _training_data(data_dir, args.lang, args.pairs, cache, registry)
    languages = len(_languages_with_parallel_data(data_dir))
    print(f"{args.pairs} {args.lang}-en sentence pairs, {args.threads} threads, model {model_dir.name}")
    for name in names:
        entry = registry.method(name)
        default = entry.cls()
        method = entry.cls(sentences_per_language=args.pairs, epochs=1)
        model = TrainableModel(model_dir)
        start = time.perf_counter()
        method.fit(data, model)
        fit_seconds = time.perf_counter() - start
        # The bare loop runs as many pairs, as text (word-level methods drop pairs without a link and see
        # them as joined words: the same tokens), with the same parameters frozen.
        trained = method.record_["examples"]
        frozen = {key for key, p in model.module.named_parameters() if not p.requires_grad}
        del model
        bare_model = TrainableModel(model_dir)
        for key, parameter in bare_model.module.named_parameters():
            parameter.requires_grad_(key not in frozen)
        bare_seconds = _bare_loop(bare_model, data.parallel[args.lang][:trained], method.batch_size, method.max_length,
                                  method.layer)
        del bare_model
        per_epoch = fit_seconds / trained * default.sentences_per_language * languages
        print(f"{name}: {trained / fit_seconds:.2f} pairs/s (fit, {method.record_['steps']} steps of {method.batch_size}) vs "
              f"{trained / bare_seconds:.2f} pairs/s (bare loop); ratio: {bare_seconds / fit_seconds:.2f}; "
              f"~{per_epoch / 60:.0f} min per epoch at the default budget ({default.sentences_per_language} pairs x "
              f"{languages} languages); peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB",
              flush=True)


def _languages_with_parallel_data(data_dir: Path) -> list[str]:
    from bench.anchors import resource_languages
    from bench.specs import Resource

    return list(resource_languages(Resource.PARALLEL_SENTENCES, data_dir))


if __name__ == "__main__":
    main()
