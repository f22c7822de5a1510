"""Noisy-input tasks (issue 13): real-typo test files, clean twins, the clean/noisy/drop report."""

import json
import re
from pathlib import Path

import pytest

from bench.leaderboard import robustness_tables
from bench.specs import Score
from bench.textio import DataFormatError
from tasks._typos import (PANX_TYPO_TAGS, TypoFile, match_clean_twins, read_panx_typos, read_xnli_typos,
                          robustness_scores, typo_files)


def test_typo_files_are_discovered_from_their_names(data_dir):
    for folder, ext in (("xnli-typos", "tsv"), ("panx-typos", "jsonl")):
        names = sorted(p.name for p in (data_dir / "robustness" / folder).glob(f"*.{ext}"))
        found = typo_files(data_dir, folder, ext)
        listed = sorted(f.path.name for files in found.values() for f in files)
        assert listed == names and names
        for lang, files in found.items():
            for typo in files:
                assert typo.path.name == f"test_{lang}_typos_{typo.path.name.split('_typos_')[1]}"
                assert typo.subset == f"typos-{typo.ratio:g}" and 0 < typo.ratio < 1


def test_real_xnli_typo_file_parses_with_label_names(data_dir):
    rows = read_xnli_typos(data_dir / "robustness" / "xnli-typos" / "test_de_typos_0.05.tsv")
    assert len(rows) == 658  # SOURCE.md's count
    assert {label for _, _, label in rows} == {"entailment", "neutral", "contradiction"}
    assert not any(p.startswith("'") or p.endswith("'") for p, _, _ in rows[:50])  # one quote stripped each side


def test_real_panx_typo_file_parses_into_iob2(data_dir):
    sentences = read_panx_typos(data_dir / "robustness" / "panx-typos" / "test_hi_typos_0.05.jsonl")
    assert len(sentences) == 795
    assert all(len(words) == len(tags) and set(tags) <= set(PANX_TYPO_TAGS) for words, tags in sentences)


@pytest.mark.parametrize("body, line, message", [
    ("premise\thypothesis\n'a'\t'b'\t0\n", 1, "header"),
    ("premise\thypothesis\tlabel\n'a'\tb\t0\n", 2, "single quotes"),
    ("premise\thypothesis\tlabel\n'a'\t'b'\t0\n'c'\t'd'\tentailment\n", 3, "label"),
    ("premise\thypothesis\tlabel\n'a'\t'  '\t1\n", 2, "empty"),
    ("premise\thypothesis\tlabel\n'a'\t'b'\n", 2, "columns"),
])
def test_malformed_xnli_typo_file_names_file_and_line(tmp_path, body, line, message):
    path = tmp_path / "test_de_typos_0.05.tsv"
    path.write_text(body, encoding="utf-8")
    read_xnli_typos.cache_clear()
    with pytest.raises(DataFormatError, match=rf"{re.escape(str(path))}:{line}: .*{message}"):
        read_xnli_typos(path)


@pytest.mark.parametrize("record, message", [
    ("not json", "JSON"),
    (json.dumps({"tokens": ["a", "b"], "ner_tags": [0]}), "one length"),
    (json.dumps({"tokens": ["a"], "ner_tags": [7]}), "integers 0-6"),
    (json.dumps({"tokens": [""], "ner_tags": [0]}), "empty"),
])
def test_malformed_panx_typo_file_names_file_and_line(tmp_path, record, message):
    path = tmp_path / "test_de_typos_0.2.jsonl"
    path.write_text(json.dumps({"tokens": ["Berlin"], "ner_tags": [5]}) + "\n" + record + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"{re.escape(str(path))}:2: .*{message}"):
        read_panx_typos(path)


def test_misnamed_typo_file_is_an_error_not_skipped(tmp_path):
    folder = tmp_path / "robustness" / "xnli-typos"
    folder.mkdir(parents=True)
    (folder / "test_de_typos_0.05.tsv").write_text("premise\thypothesis\tlabel\n'a'\t'b'\t0\n")
    (folder / "de_noisy.tsv").write_text("premise\thypothesis\tlabel\n'a'\t'b'\t0\n")
    with pytest.raises(DataFormatError, match="de_noisy.tsv: name is not test_<lang>_typos_<ratio>"):
        typo_files(tmp_path, "xnli-typos", "tsv")


def test_clean_twins_need_the_same_label_and_near_identical_text():
    clean = (("Der Hund schläft im Garten neben dem Haus.", "Ein Tier ruht.", "entailment"),
             ("Die Katze jagt eine Maus durch die Küche.", "Die Katze schläft.", "contradiction"),
             ("Wir fahren morgen früh mit dem Zug nach Hamburg.", "Wir reisen.", "entailment"))
    noisy = (("Der Hund schläft im Gartn neben dem Haus.", "Ein Tier ruht.", "entailment"),  # one typo
             ("Die Katze jagt eine Maus durch die Küche.", "Die Katze schläft.", "neutral"),  # label differs
             ("Ganz etwas anderes steht hier geschrieben.", "Nichts passt.", "entailment"),  # no twin
             ("Wir fahren morgen früh mit dem Zg nach Hamburg.", "Wir reisen.", "entailment"))
    assert match_clean_twins(noisy, clean) == (0, None, None, 2)
    assert match_clean_twins(noisy[:1] * 2, clean) == (0, None)  # a clean row is the twin of one noisy row only


def test_every_german_noisy_row_finds_a_distinct_clean_twin(data_dir):
    from tasks.xnli_typos import clean_twins, nli_rows

    noisy_path = data_dir / "robustness" / "xnli-typos" / "test_de_typos_0.05.tsv"
    clean_path = data_dir / "xnli" / "de" / "test.tsv"
    twins = clean_twins(noisy_path, clean_path)
    noisy, clean = read_xnli_typos(noisy_path), nli_rows(clean_path)
    matched = [t for t in twins if t is not None]
    assert len(matched) == len(set(matched)) >= 0.95 * len(noisy)  # SOURCE.md: all rows have a clean version
    assert all(clean[t][2] == row[2] for row, t in zip(noisy, twins) if t is not None)


def test_robustness_scores_report_clean_noisy_and_drop_with_what_the_clean_items_are():
    typo = TypoFile("de", 0.05, Path("/data/robustness/xnli-typos/test_de_typos_0.05.tsv"))
    other = TypoFile("de", 0.2, Path("/data/robustness/xnli-typos/test_de_typos_0.2.tsv"))
    scores = [Score("accuracy", 70.0, 100, "typos-0.05"), Score("baseline_accuracy", 33.0, 100, "typos-0.05"),
              Score("accuracy", 78.0, 100, "clean:typos-0.05"), Score("accuracy", 60.0, 90, "typos-0.2"),
              Score("accuracy", 80.0, 500, "clean:dev-heldout"), Score("baseline_accuracy", 33.0, 500, "clean:dev-heldout")]
    out = {(s.metric, s.subset): s for s in robustness_scores(scores, {"typos-0.05": typo, "typos-0.2": other},
                                                              "accuracy", "dev-heldout", "other items")}
    assert out[("drop", "typos-0.05")].value == pytest.approx(8.0)  # paired: clean twins
    assert out[("drop", "typos-0.05")].extra["paired"] is True
    assert out[("drop", "typos-0.2")].value == pytest.approx(20.0)  # unpaired: the dev-heldout items
    assert out[("clean_accuracy", "typos-0.2")].extra["clean_items"] == "other items"
    assert out[("accuracy", "typos-0.2")].extra["noise_ratio"] == 0.2
    assert not any(s.subset.startswith("clean:") for s in out.values())


def _row(metric, value, column="de", seed=0, method="original"):
    return {"cell_id": f"{method}-{column}-{seed}", "method_label": method, "category": "control", "encoder": "e5",
            "layer": 8, "task": "xnli-typos", "protocol": "p+typos", "task_version": "1", "metric": metric,
            "language": column, "subset": "typos-0.05", "value": value, "seed": seed, "n": 10,
            "is_main": metric == "accuracy", "kind": "task"}


def test_robustness_table_shows_clean_noisy_and_drop_per_noisy_set():
    rows = [_row("accuracy", 70.0), _row("clean_accuracy", 80.0), _row("drop", 10.0),
            _row("accuracy", 72.0, seed=1), _row("clean_accuracy", 80.0, seed=1), _row("drop", 8.0, seed=1),
            _row("accuracy", 50.0, column="hi"), _row("clean_accuracy", 51.0, column="hi"), _row("drop", 1.0, column="hi")]
    table = robustness_tables(rows)["xnli-typos (accuracy; p+typos v1)"]
    assert table.loc[("original", "control", "e5", 8), "de (typos-0.05)"] == "80.0 → 71.0 (-9.0 ± 1.4)"
    assert table.loc[("original", "control", "e5", 8), "hi (typos-0.05)"] == "51.0 → 50.0 (-1.0)"
    assert table.loc[("original", "control", "e5", 8), "mean drop"] == "5.0"  # over columns, seeds first


GRID = """
name = "typos-e2e"
seeds = [0]
[[encoders]]
name = "e5-small-offline"
layers = [8]
[[methods]]
name = "original"
[[tasks]]
name = "xnli"
params = { train_limit = 400, select_limit = 100, test_limit = 60 }
languages = ["de"]
[[tasks]]
name = "xnli-typos"
params = { train_limit = 400, select_limit = 100, test_limit = 60 }
languages = ["de", "hi"]
[[tasks]]
name = "ner-typos"
params = { train_limit = 400, dev_limit = 200, test_limit = 60 }
languages = ["es"]
"""


@pytest.mark.slow
def test_noisy_tasks_reuse_the_clean_head_and_report_the_drop(tmp_path, data_dir, cache_root):
    from bench.cli import main
    from bench.results import read_jsonl

    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    assert main(["run", "--grid", str(grid), "--data", str(data_dir), "--out", str(tmp_path), "--cache", str(cache_root),
                 "--no-progress", "--no-mlflow"]) == 0
    rows = read_jsonl(tmp_path / "results" / "results.jsonl")
    got = {(r["task"], r["language"], r["subset"], r["metric"]): r for r in rows}
    clean_head = got[("xnli", "de", "dev-heldout", "accuracy")]["extra"]["head_key"]
    noisy = got[("xnli-typos", "de", "typos-0.05", "accuracy")]
    assert noisy["extra"]["head_key"] == clean_head  # the very head the clean task trained
    assert noisy["extra"]["paired"] is True and noisy["n"] == 60  # every sampled German row has its clean twin
    drop = got[("xnli-typos", "de", "typos-0.05", "drop")]["value"]
    assert drop == pytest.approx(got[("xnli-typos", "de", "typos-0.05", "clean_accuracy")]["value"] - noisy["value"])
    hindi = got[("xnli-typos", "hi", "typos-0.05", "clean_accuracy")]
    assert hindi["extra"]["paired"] is False and "other items" in hindi["extra"]["clean_items"]
    assert hindi["n"] == 60  # the sampled dev-heldout items
    assert noisy["protocol"].endswith("+typos") and noisy["protocol_detail"]["id"].endswith("+typos")
    ner = got[("ner-typos", "es", "typos-0.1", "f1")]
    assert ner["extra"]["noise_ratio"] == 0.1 and ner["extra"]["paired"] is False
    assert ("ner-typos", "es", "typos-0.1", "drop") in got
    assert not any(r["subset"].startswith("clean:") for r in rows)
    assert "Robustness to real typos" in (tmp_path / "leaderboard" / "README.md").read_text()
