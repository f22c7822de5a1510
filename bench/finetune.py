"""Weight-changing methods (the survey's categories c-f): their contract, their training data, the model
they train, and the content-addressed store of the checkpoints they produce.

A **Finetuner** is a method whose spec has `mode = Mode.ONLINE`. It declares what it trains on with
`needs()` (the same `AnchorRequest`s aligners use), has a `seed: int` field (its training seed: a
grid lists the method once per seed to measure the spread) and implements `fit(data, model) -> self`:
it trains `model` (a `TrainableModel`: a transformers encoder loaded for training) in place and keeps
its training record in `record_`. The runner gives it the guarded training data of every language the
data root has the resource for (one checkpoint for all languages, independent of the grid's cells),
saves the trained weights as a checkpoint and evaluates every task on that checkpoint as on any other
encoder: tasks never learn which category made it.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from bench.manifest import directory_problem, publish, staging_for
from bench.specs import AnchorRequest

CHECKPOINT_MARKER = "alignbench-fingerprint.json"  # the file TransformersEncoder reads its fingerprint from


@dataclass(frozen=True)
class TrainingData:
    """Guarded training text of a Finetuner, per non-pivot language."""

    pivot: str
    languages: tuple[str, ...]
    parallel: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # (text, pivot text)
    word_alignments: dict = field(default_factory=dict)  # lang -> bench.wordalign.WordAlignedCorpus
    dictionary: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # (word, pivot word)
    provenance: dict = field(default_factory=dict)


@runtime_checkable
class Finetuner(Protocol):
    seed: int

    def needs(self) -> tuple[AnchorRequest, ...]: ...

    def fit(self, data: TrainingData, model: "TrainableModel") -> "Finetuner": ...


class TrainableModel:
    """A transformers encoder directory loaded for training (CPU unless a GPU is visible).

    `hidden(texts, layer)` and `word_states(words, layer)` return states with gradients while the module
    is in train mode; `frozen_copy()` is the untouched original (for regularisers that keep some
    representations where they were); `save(directory)` writes safetensors weights and the tokenizer.
    """

    def __init__(self, model_dir: Path, device: str | None = None, threads: int | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.model_dir = Path(model_dir)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        config = json.loads((self.model_dir / "config.json").read_text())
        extra = {"add_pooling_layer": False} if config.get("model_type") == "bert" else {}
        self.module = AutoModel.from_pretrained(self.model_dir, **extra).to(self.device)
        self.num_layers = int(config["num_hidden_layers"])
        self.extra_parameters: list = []  # a method's own modules (a projection head): trained, never saved

    def freeze(self, embeddings: bool = True, layers_below: int = 0) -> None:
        """Stop gradients for the embedding matrices and for transformer layers 1..layers_below
        (hidden_states numbering: layer k is the output of block k)."""
        for name, parameter in self.module.named_parameters():
            block = _block_index(name)
            if (embeddings and name.startswith("embeddings.")) or (block is not None and block < layers_below):
                parameter.requires_grad_(False)

    def trainable_parameters(self) -> list:
        return [p for p in self.module.parameters() if p.requires_grad] + list(self.extra_parameters)

    def frozen_copy(self):
        import copy

        original = copy.deepcopy(self.module).eval()
        for parameter in original.parameters():
            parameter.requires_grad_(False)
        return original

    def batch(self, texts: Sequence[str], max_length: int):
        encoded = self.tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt",
                                 return_token_type_ids=False)
        return encoded["input_ids"].to(self.device), encoded["attention_mask"].to(self.device)

    def hidden(self, ids, mask, layer: int, module=None):
        module = module if module is not None else self.module
        return module(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]

    def mean_pooled(self, texts: Sequence[str], layer: int, max_length: int, module=None):
        """Mean over non-padding tokens (special tokens included), as `Pooling.MEAN` encodes."""
        ids, mask = self.batch(texts, max_length)
        states = self.hidden(ids, mask, layer, module)
        weights = mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1)

    def word_batch(self, words: Sequence[Sequence[str]], max_length: int):
        """Token ids of pre-split sentences and, per sentence, each word's first sub-token position
        (-1 for a word cut off by `max_length`). The words are joined with spaces and their first
        sub-tokens found from character offsets, exactly as the evaluation reads word vectors
        (`bench.wordvectors`): a bare "▁" piece before a word is not the word's (word_ids would say it is,
        for ~11% of UD words, mostly punctuation)."""
        import torch

        from bench.wordvectors import first_subtokens, join_words

        joined = [join_words(tuple(w)) for w in words]
        encoded = self.tokenizer([text for text, _ in joined], truncation=True, max_length=max_length, padding=True,
                                 return_tensors="pt", return_token_type_ids=False, return_offsets_mapping=True)
        width = max(len(w) for w in words)
        index = torch.full((len(words), width), -1, dtype=torch.long)
        for row, (_, spans) in enumerate(joined):
            positions = first_subtokens(encoded["offset_mapping"][row].numpy(), spans)
            index[row, : len(positions)] = torch.from_numpy(positions)
        return encoded["input_ids"].to(self.device), encoded["attention_mask"].to(self.device), index.to(self.device)

    def save(self, directory: Path) -> None:
        self.module.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)


LinkedPair = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[int, int], ...]]  # words, pivot words, links


def linked_sentences(data: TrainingData, per_language: int, method: str) -> list[LinkedPair]:
    """(source words, pivot words, one-to-one word links) of a fixed sample of at most `per_language`
    word-aligned sentence pairs per language (those with at least one link), languages in order."""
    require(data, "word_alignments", method)
    out = []
    for lang in data.languages:
        corpus = data.word_alignments[lang]
        links: dict[int, list[tuple[int, int]]] = {}
        for s, i, j in corpus.word_pairs():
            links.setdefault(s, []).append((i, j))
        for s in sample_indices(len(corpus), per_language):
            if int(s) in links:
                out.append((corpus.source[s], corpus.target[s], tuple(links[int(s)])))
    return out


def linked_texts(example: LinkedPair) -> tuple[str, str]:
    """A linked pair's two sentences as text (for the semantic criterion)."""
    return " ".join(example[0]), " ".join(example[1])


def parallel_pairs(data: TrainingData, method: str) -> list[tuple[str, str]]:
    """Every (text, pivot text) pair of `data`, languages in order (the runner applied the budget)."""
    require(data, "parallel", method)
    return [pair for lang in data.languages for pair in data.parallel[lang]]


@dataclass
class LinkStates:
    """States at one layer of a batch of `LinkedPair`s, both sides encoded in one forward pass."""

    source: object  # [n_links, dim] states of the linked source words (first sub-token)
    target: object  # [n_links, dim] states of their linked pivot words
    pivot_words: object  # [n_pivot_words, dim] states of every pivot word inside max_length
    pivot_batch: tuple  # (ids, mask, (row, position) of pivot_words): to encode them with another module


def link_states(model: TrainableModel, batch: Sequence[LinkedPair], layer: int, max_length: int) -> LinkStates:
    """Links whose words were cut off by `max_length` are dropped."""
    import torch

    n = len(batch)  # both sides in one forward pass: larger matrix products, less overhead on a CPU
    ids, mask, first = model.word_batch([b[0] for b in batch] + [b[1] for b in batch], max_length)
    states = model.hidden(ids, mask, layer)
    source, target, src_first, tgt_first = states[:n], states[n:], first[:n], first[n:]
    rows, src_pos, tgt_pos = [], [], []
    for row, (_, _, links) in enumerate(batch):
        for i, j in links:
            a, b = int(src_first[row, i]), int(tgt_first[row, j])
            if a >= 0 and b >= 0:
                rows.append(row), src_pos.append(a), tgt_pos.append(b)
    device = states.device
    rows_t = torch.tensor(rows, dtype=torch.long, device=device)
    kept = tgt_first >= 0
    pivot_rows = torch.arange(n, device=device).unsqueeze(1).expand_as(tgt_first)[kept]
    pivot_positions = tgt_first[kept]
    return LinkStates(source[rows_t, torch.tensor(src_pos, dtype=torch.long, device=device)],
                      target[rows_t, torch.tensor(tgt_pos, dtype=torch.long, device=device)],
                      target[pivot_rows, pivot_positions], (ids[n:], mask[n:], (pivot_rows, pivot_positions)))


def pivot_words_of(model: TrainableModel, module, states: LinkStates, layer: int):
    """The same pivot words' states under another module (e.g. the frozen original), without gradients."""
    import torch

    ids, mask, (rows, positions) = states.pivot_batch
    with torch.no_grad():
        return model.hidden(ids, mask, layer, module=module)[rows, positions]


@dataclass(frozen=True)
class LoopConfig:
    """How a Finetuner's examples are turned into optimizer steps."""

    epochs: int
    lr: float
    batch_size: int
    warmup: float = 0.1  # fraction of the steps with a linearly rising learning rate, then constant
    betas: tuple[float, float] = (0.9, 0.98)
    selection: str = "last"  # one of SELECTIONS
    evaluations: int = 5  # criterion evaluations after the initial one, evenly spaced (selection "semantic")


SELECTIONS = ("last", "semantic")


@dataclass
class FinetuneBudget:
    """The CPU budget Finetuners share (README: weight-changing methods); a method inherits these fields."""

    sentences_per_language: int = 500
    layer: int = 12  # hidden_states index whose states the objective shapes
    epochs: int = 1
    lr: float = 5e-5
    batch_size: int = 16  # sentence pairs per step
    max_length: int = 64
    freeze_embeddings: bool = True  # the 250k-row embedding matrix stays fixed
    seed: int = 0  # the training seed; a grid lists the method once per seed to measure the spread
    selection: str = "last"  # "last": the weights after the last step; "semantic": see `train`
    held_out: int = 200  # training examples kept out of training to compute the semantic criterion on

    def loop(self) -> LoopConfig:
        return LoopConfig(self.epochs, self.lr, self.batch_size, selection=self.selection)

    def train(self, model: TrainableModel, examples: Sequence, loss: Callable, name: str, terms: Sequence[str],
              texts: Callable[[object], tuple[str, str]]) -> dict:
        """`train_loop` under this budget. With `selection = "semantic"` a seeded sample of `held_out`
        examples is removed from training, and the weights kept are those (initial weights included)
        with the highest semantic criterion of Zhao & Eger (Real-NVP paper, §4.2: the mean cosine of
        CSLS-induced translations, Conneau et al. 2018) between the mean-pooled `layer` vectors of the
        held-out examples' two sides (`texts(example)` -> (text, pivot text)). The paper computes it on
        induced word translations; we compute it on held-out sentences of the training data."""
        if self.selection not in SELECTIONS:
            raise ValueError(f"{name}: selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.selection == "last":
            return train_loop(model, examples, loss, self.loop(), self.seed, name, terms)
        if len(examples) < self.held_out + 1 or self.held_out < 2:
            raise ValueError(f"{name}: selection 'semantic' holds out {self.held_out} of {len(examples)} examples; "
                             "it needs at least 2 held out and 1 to train on")
        held = set(np.random.default_rng(self.seed).choice(len(examples), self.held_out, replace=False).tolist())
        pairs = [texts(examples[k]) for k in sorted(held)]
        criterion = semantic_criterion_of(model, pairs, self.layer, self.max_length)
        record = train_loop(model, [e for k, e in enumerate(examples) if k not in held], loss, self.loop(), self.seed,
                            name, terms, criterion=criterion)
        return {**record, "held_out_examples": len(pairs)}


def semantic_criterion_of(model: TrainableModel, pairs: Sequence[tuple[str, str]], layer: int, max_length: int,
                          batch_size: int = 32) -> Callable[[], float]:
    """A function of no argument: the semantic criterion of `model`'s current weights on `pairs`."""
    import torch

    from bench.diagnostics import semantic_criterion

    def vectors(texts):
        with torch.no_grad():
            return np.concatenate([model.mean_pooled(texts[i:i + batch_size], layer, max_length).float().cpu().numpy()
                                   for i in range(0, len(texts), batch_size)])

    def criterion() -> float:
        training = model.module.training
        model.module.eval()
        try:
            return semantic_criterion(vectors([a for a, _ in pairs]), vectors([b for _, b in pairs]))
        finally:
            model.module.train(training)

    return criterion


def train_loop(model: TrainableModel, examples: Sequence, loss: Callable, config: LoopConfig, seed: int,
               name: str, terms: Sequence[str] = ("loss",), criterion: Callable[[], float] | None = None) -> dict:
    """Adam over shuffled mini-batches of `examples` for `config.epochs` epochs; `loss(batch)` returns a
    tuple of scalar tensors whose first is minimised (the others are logged). Seeded by `seed` (batch
    order and any dropout). Selection "last" keeps the weights after the last step; "semantic" evaluates
    `criterion` (higher = better) on the initial weights and `config.evaluations` times at evenly spaced
    steps, and restores the best weights seen (the first of ties). Returns the training record."""
    import torch

    if not examples:
        raise ValueError(f"{name}: no training examples")
    if config.selection not in SELECTIONS:
        raise ValueError(f"{name}: selection must be one of {SELECTIONS}, got {config.selection!r}")
    if (config.selection == "semantic") != (criterion is not None):
        raise ValueError(f"{name}: selection {config.selection!r} {'needs' if criterion is None else 'takes no'} criterion")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(len(examples) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = max(1, int(round(config.warmup * total)))
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=config.lr, betas=config.betas)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    model.module.train()
    history = []
    from tqdm.auto import tqdm

    evaluate_at = ({int(round(total * k / config.evaluations)) for k in range(1, config.evaluations + 1)}
                   if criterion is not None else set())
    scores: list[tuple[int, float]] = []
    best_state = None

    def evaluate(step: int) -> None:
        nonlocal best_state
        score = float(criterion())
        if not math.isfinite(score):
            raise FloatingPointError(f"{name}: non-finite selection criterion at step {step}")
        if not scores or score > max(s for _, s in scores):
            best_state = None  # only the trained parameters can differ from the initial weights: copy those
            best_state = {name: p.detach().to("cpu", copy=True) for name, p in model.module.named_parameters()
                          if p.requires_grad}
        scores.append((step, score))

    if criterion is not None:
        evaluate(0)
    bar = tqdm(total=total, desc=f"train {name}", unit="step", leave=False, disable=None)  # silent off a terminal
    for _ in range(config.epochs):
        order = rng.permutation(len(examples))
        for start in range(0, len(order), config.batch_size):
            optimizer.zero_grad()
            values = loss([examples[k] for k in order[start:start + config.batch_size]])
            if not torch.isfinite(values[0]):
                raise FloatingPointError(f"{name}: non-finite loss at step {len(history) + 1}")
            values[0].backward()
            optimizer.step()
            schedule.step()
            history.append([v.item() for v in values])
            bar.update()
            bar.set_postfix_str(f"loss {history[-1][0]:.4f}")
            if len(history) in evaluate_at:
                evaluate(len(history))
    bar.close()
    model.module.eval()
    if criterion is None:
        selection = "fixed: weights after the last step"
    else:
        chosen, best = max(scores, key=lambda item: (item[1], -item[0]))
        with torch.no_grad():
            for name, parameter in model.module.named_parameters():
                if name in best_state:
                    parameter.copy_(best_state[name])
        selection = f"semantic criterion on held-out pairs: step {chosen} of {len(history)} ({best:.5f})"
    tenth = max(1, len(history) // 10)
    extra = ({"criterion": [[step, round(score, 5)] for step, score in scores], "kept_step": chosen,
              "loss_at_kept_step": [round(v, 5) for v in history[chosen - 1]] if chosen else None} if scores else {})
    return {"steps": len(history), "examples": len(examples), "selection": selection, **extra,
            "loss_terms": list(terms), "loss_first_tenth": [round(float(v), 5) for v in np.mean(history[:tenth], 0)],
            "loss_last_tenth": [round(float(v), 5) for v in np.mean(history[-tenth:], 0)],
            "optimizer": f"Adam lr {config.lr} betas {config.betas}, {config.warmup:.0%} linear warm-up, batch {config.batch_size}"}


def _block_index(parameter_name: str) -> int | None:
    parts = parameter_name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == "layer" and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


class CheckpointStore:
    """Trained checkpoints under `<cache>/checkpoints/<key>/`, content-addressed by the caller's key.

    A checkpoint is a transformers directory (safetensors, no pickle) plus a marker with its fingerprint,
    the size and sha256 of every file, the training record and provenance. `load` returns a directory
    only when every file matches its record; a bad one is reported with its path, deleted, and None is
    returned so the caller trains again. `save` writes into a staging folder and renames it into place.
    """

    def __init__(self, cache_dir: Path):
        self.root = Path(cache_dir) / "checkpoints"

    def load(self, key: str) -> Path | None:
        directory = self.root / key
        if not directory.exists():
            return None
        problem = directory_problem(directory, CHECKPOINT_MARKER, checkpoint_fingerprint(key))
        if problem is None:
            return directory
        logging.getLogger("alignbench").warning("checkpoint store: discarding %s (%s); training again", directory, problem)
        shutil.rmtree(directory, ignore_errors=True)
        return None

    def meta(self, key: str) -> dict:
        return json.loads((self.root / key / CHECKPOINT_MARKER).read_text())

    def save(self, key: str, model: TrainableModel, meta: dict) -> Path:
        target = self.root / key
        with staging_for(target) as staging:
            model.save(staging)
            return publish(staging, target, CHECKPOINT_MARKER, {**meta, "fingerprint": checkpoint_fingerprint(key), "key": key})


def checkpoint_fingerprint(key: str) -> str:
    """The encoder fingerprint of a checkpoint: its key names everything that shaped the weights."""
    import hashlib

    return hashlib.sha256(f"alignbench-checkpoint:{key}".encode()).hexdigest()


def require(data: TrainingData, resource: str, method: str) -> None:
    """Raise MissingResourceError unless every language of `data` has `resource` ("parallel",
    "word_alignments" or "dictionary") and there is at least one language."""
    from bench.alignment import MissingResourceError

    held = getattr(data, resource)
    lacking = [lang for lang in data.languages if not held.get(lang)]
    if not data.languages or lacking:
        raise MissingResourceError(f"{method} needs {resource.replace('_', ' ')} for "
                                   f"{', '.join(lacking) or 'at least one language'}")


# A toy parallel set for contract checks (hand-written, not real data): word k of a German-like sentence
# translates word k of its English one.
SYNTHETIC_SOURCE = ("der hund", "die katze", "das haus", "ein baum", "der mann", "die frau", "das kind", "ein auto")
SYNTHETIC_PIVOT = ("the dog", "the cat", "the house", "a tree", "the man", "the woman", "the child", "a car")


def synthetic_training_data(repeat: int = 4) -> TrainingData:
    """Every resource a Finetuner may ask for, on the toy parallel set, for language "de"."""
    from bench.wordalign import AlignerConfig, WordAlignedCorpus

    source = tuple(tuple(s.split()) for s in SYNTHETIC_SOURCE) * repeat
    target = tuple(tuple(s.split()) for s in SYNTHETIC_PIVOT) * repeat
    links = tuple(tuple((k, k) for k in range(len(s))) for s in source)
    corpus = WordAlignedCorpus("de", "en", source, target, links, "synthetic", AlignerConfig())
    pairs = tuple((" ".join(s), " ".join(t)) for s, t in zip(source, target))
    words = tuple(sorted({(a, b) for s, t in zip(source, target) for a, b in zip(s, t)}))
    return TrainingData("en", ("de",), parallel={"de": pairs}, word_alignments={"de": corpus}, dictionary={"de": words},
                        provenance={"synthetic": "bench.finetune.synthetic_training_data"})


def synthetic_vocabulary() -> list[str]:
    return sorted({w for s in SYNTHETIC_SOURCE + SYNTHETIC_PIVOT for w in s.split()})


def sample_indices(n: int, budget: int, seed: int = 0) -> np.ndarray:
    """A fixed sample of at most `budget` of `n` items, in their original order."""
    if budget <= 0 or budget >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, budget, replace=False))


def tiny_model_dir(directory: Path, words: Sequence[str], layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """A randomly initialised BERT with a word-level tokenizer over `words` (for contract checks and
    known-answer tests: seconds on a CPU, the same code paths as a real encoder)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + sorted(set(words) - set(specials)))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128, pad_token_id=vocab["[PAD]"])
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory, safe_serialization=True)
    fast.save_pretrained(directory)
    return directory
