"""Task-time methods (bench/tasktime.py) and robust-training: known answers, planning, end to end."""

import pytest
import torch

from dataclasses import dataclass

import numpy as np

from bench.tasktime import TrainingStep, augmented_pairs, augmented_sentences, objective_key, step_loss
from methods.robust_training import RobustTraining, pivot_synonyms


def _step(seen: list, tokens: bool = False, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = torch.nn.Linear(6, 3)
    shape = (5, 4, 6) if tokens else (5, 6)
    inputs = torch.randn(shape, generator=generator) * 3.0
    gold = torch.randint(0, 3, shape[:-1], generator=generator)

    def forward(x):
        seen.append(x.detach().clone())
        return head(x)

    return TrainingStep(inputs, forward, lambda logits: torch.nn.functional.cross_entropy(
        logits.reshape(-1, 3), gold.reshape(-1))), head


def test_without_a_method_the_step_is_the_plain_loss_and_keys_do_not_change():
    seen = []
    step, head = _step(seen)
    assert torch.equal(step_loss(None, step), step.loss_of(head(step.inputs)))
    assert objective_key(None) == ()  # plain heads keep the content keys they had before task-time methods


def test_random_perturbation_stays_within_its_radius_and_vanishes_with_it():
    seen = []
    step, head = _step(seen)
    torch.manual_seed(1)
    RobustTraining(radius=0.5, samples=4).loss(step)
    assert len(seen) == 4
    rms = step.inputs.pow(2).mean(-1, keepdim=True).sqrt()
    for x in seen:
        noise = x - step.inputs
        assert (noise.abs() <= 0.5 * rms + 1e-6).all() and noise.abs().max() > 0.1 * rms.min()
    tiny = RobustTraining(radius=1e-6).loss(step)
    assert tiny.item() == pytest.approx(step_loss(None, step).item(), abs=1e-4)


@pytest.mark.parametrize("tokens", [False, True])
def test_adversarial_perturbation_is_bounded_and_raises_the_loss(tokens):
    for seed in range(3):
        seen = []
        step, head = _step(seen, tokens, seed)
        torch.manual_seed(seed)
        adversarial = RobustTraining(strategy="adversarial", radius=0.3, steps=3).loss(step)
        final = seen[-1] - step.inputs
        bound = 0.3 * torch.linalg.vector_norm(step.inputs, dim=-1)
        assert (torch.linalg.vector_norm(final, dim=-1) <= bound + 1e-5).all()
        assert adversarial.item() > step_loss(None, step).item()  # PGD ascends a convex loss of a linear head
        adversarial.backward()
        assert head.weight.grad is not None


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="strategy must be one of"):
        RobustTraining(strategy="smoothing")


def test_objective_key_names_the_method_its_parameters_and_code():
    (key,) = objective_key(RobustTraining(radius=0.2))
    assert key["objective"] == "RobustTraining" and key["params"]["radius"] == 0.2 and len(key["code"]) == 64
    assert objective_key(RobustTraining(radius=0.2)) != objective_key(RobustTraining(radius=0.3))


GRID = """
name = "task-time"
seeds = [0]
[[encoders]]
name = "e5-small-offline"
layers = [8]
[[methods]]
name = "original"
[[methods]]
name = "robust-training"
[[methods]]
name = "robust-training"
params = { strategy = "adversarial" }
[[methods]]
name = "robust-training"
params = { strategy = "synonym-augmentation" }
[[tasks]]
name = "xnli"
params = { train_limit = 300, select_limit = 100, test_limit = 60 }
languages = ["de"]
[[tasks]]
name = "tatoeba"
languages = ["de"]
"""


@pytest.mark.slow
def test_robust_training_trains_its_own_head_and_is_not_applicable_where_nothing_is_trained(tmp_path, data_dir, cache_root, capsys):
    from bench.cli import main
    from bench.results import read_jsonl

    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    assert main(["run", "--grid", str(grid), "--data", str(data_dir), "--out", str(tmp_path), "--cache", str(cache_root),
                 "--no-progress", "--no-mlflow"]) == 0
    out = capsys.readouterr().out
    assert "3 not applicable" in out and "trains no model on the source language" in out
    rows = [r for r in read_jsonl(tmp_path / "results" / "results.jsonl") if r["metric"] == "accuracy"]
    by_method = {r["method_label"]: r for r in rows}
    assert set(by_method) == {"original", "robust-training", "robust-training[strategy=adversarial]",
                              "robust-training[strategy=synonym-augmentation]"}
    keys = {label: r["extra"]["head_key"] for label, r in by_method.items()}
    assert len(set(keys.values())) == 4  # each objective trains its own head; the plain head keeps its key
    resources = by_method["robust-training[strategy=synonym-augmentation]"]["anchors"]["task_time"]["resources"]
    assert "bilingual_lexicon:de" in resources and resources["bilingual_lexicon:de"]["n"] > 1000
    robust = by_method["robust-training"]
    assert robust["category"] == "d" and robust["anchors"]["task_time"]["objective"] == "robust-training"
    assert robust["encoder_fingerprint"] == by_method["original"]["encoder_fingerprint"]  # the encoder is untouched
    assert all(0 < r["value"] <= 100 for r in rows)


@dataclass(frozen=True)
class _Sentence:
    words: tuple
    tags: tuple


class _Doubling:
    """A fixture objective: two copies of every text, the second upper-cased."""

    def augment(self, words, rng):
        return (words, tuple(w.upper() for w in words))


class _Shortening:
    def augment(self, words, rng):
        return (words[:-1],)


def test_augmentation_hooks_copy_training_items_and_keep_labels_aligned():
    sentences = [_Sentence(("a", "b"), ("O", "B-PER")), _Sentence(("c",), ("O",))]
    assert augmented_sentences(None, sentences, 0) == sentences
    copies = augmented_sentences(_Doubling(), sentences, 0)
    assert [s.words for s in copies] == [("a", "b"), ("A", "B"), ("c",), ("C",)]
    assert [s.tags for s in copies] == [("O", "B-PER"), ("O", "B-PER"), ("O",), ("O",)]
    pairs, labels = augmented_pairs(_Doubling(), [("x y", "z")], ["neutral"], 0)
    assert pairs == [("x y", "z"), ("X Y", "Z")] and labels == ["neutral", "neutral"]
    assert augmented_pairs(None, [("x y", "z")], ["neutral"], 0) == ([("x y", "z")], ["neutral"])
    with pytest.raises(ValueError, match="as long as its input"):
        augmented_sentences(_Shortening(), sentences, 0)


def test_robust_training_strategies_leave_the_words_alone():
    words = ("a", "b", "c")
    assert RobustTraining().augment(words, np.random.default_rng(0)) == (words,)


def test_pivot_synonyms_need_agreeing_dictionaries():
    dictionary = {"de": (("groß", "big"), ("groß", "large"), ("Haus", "house")),
                  "fr": (("grand", "big"), ("grand", "large"), ("maison", "house")),
                  "es": (("grande", "big"), ("grande", "large"), ("grande", "great"))}
    assert pivot_synonyms(dictionary, 3) == {"big": ("large",), "large": ("big",)}
    assert pivot_synonyms(dictionary, 1)["big"] == ("large", "great")  # most-shared first
    assert "house" not in pivot_synonyms(dictionary, 1)  # one translation each, shared with nobody


def test_synonym_augmentation_draws_uniformly_from_the_word_and_its_synonyms():
    from bench.finetune import TrainingData

    dictionary = {lang: (("x", "big"), ("x", "large"), ("x", "huge")) for lang in ("de", "fr", "es")}
    method = RobustTraining(strategy="synonym-augmentation").fit(TrainingData("en", ("de", "es", "fr"), dictionary=dictionary))
    words = ("a", "big", "dog")
    copies = method.augment(words, np.random.default_rng(0))
    assert len(copies) == 3 and all(len(c) == 3 and c[0] == "a" and c[2] == "dog" for c in copies)
    assert copies == method.augment(words, np.random.default_rng(0))
    drawn = [c[1] for _ in range(200) for c in method.augment(words, np.random.default_rng(_))]
    counts = {w: drawn.count(w) for w in ("big", "large", "huge")}
    assert set(drawn) == set(counts) and min(counts.values()) > 0.25 * len(drawn) / 3  # the word itself included


def test_synonym_augmentation_without_dictionaries_is_a_clear_error():
    from bench.alignment import MissingResourceError
    from bench.finetune import TrainingData

    with pytest.raises(MissingResourceError, match="bilingual dictionaries"):
        RobustTraining(strategy="synonym-augmentation").fit(TrainingData("en", ()))


def test_the_task_time_library_is_in_the_digest_of_every_task_and_method_that_uses_it():
    from bench.provenance import digest_sources
    from bench.registry import load_registry

    registry = load_registry(())
    for name in ("pos", "dp", "ner", "xnli", "ner-typos", "xnli-typos"):
        assert registry.task(name).spec.trains_on_source
        assert "bench.tasktime" in digest_sources(registry.task(name).cls.__module__), name
    assert "bench.tasktime" in digest_sources(registry.method("robust-training").cls.__module__)
    for name in ("tatoeba", "bucc", "sts"):  # tasks that train nothing on the source language
        assert not registry.task(name).spec.trains_on_source
        assert "bench.tasktime" not in digest_sources(registry.task(name).cls.__module__)
    assert "bench.tasktime" not in digest_sources(registry.method("joint-align").cls.__module__)  # checkpoints keep their keys
