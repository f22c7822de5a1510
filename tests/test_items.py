"""Per-item results: written with a cell's rows, reproducing its score, resumed, and cleaned by prune."""

from pathlib import Path

import numpy as np
import pytest

from bench.grid import load_grid
from bench.items import ItemStore, encode
from bench.results import ResultStore, read_jsonl
from bench.runner import Runner, RunOptions
from bench.specs import Items, Score, Statistic
from bench.stats import value
from tests.helpers import ToyEncoder, write_fixture_data

TASK_FILE = '''
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.languages import PIVOT
from bench.registry import task
from bench.retrieval import nearest_neighbour
from bench.specs import EncodeSpec, Items, Level, Score, Statistic, TaskSpec
from tasks._common import embed, sentence_spec
from tasks.tatoeba import load_tatoeba, tatoeba_languages


@task(TaskSpec(name="hits", version="1", protocol="toy-hits", metrics=("p1",), main_metric="p1",
               higher_is_better=True, granularity=Level.SENTENCE, dataset="fixture", citation="-", summary="-"))
@dataclass(frozen=True)
class Hits:
    misreport: float = 0.0  # added to the reported score only: items that do not describe it

    def languages(self, data_dir):
        return tatoeba_languages(data_dir)

    def cell_languages(self, language):
        return (language, PIVOT)

    def encode_spec(self, layer):
        return sentence_spec(layer)

    def data_files(self, data_dir, language):
        return []

    def requirements(self):
        return frozenset()

    def protocol(self, layer):
        return {"layer": layer}

    def evaluation_texts(self, data_dir):
        return {}

    def evaluate(self, encoder, language, ctx):
        other, english = load_tatoeba(ctx.data_dir, language)
        hits = (nearest_neighbour(embed(encoder, english, PIVOT, ctx.layer), embed(encoder, other, language, ctx.layer))
                == np.arange(len(other))).astype(np.int8)
        items = Items(Statistic.MEAN, tuple(range(len(hits))), {"value": hits})
        return [Score("p1", 100 * float(hits.mean()) + self.misreport, len(hits), items=items)]
'''


def run(tmp_path: Path, task_params: str = ""):
    from bench.registry import load_registry, methods, tasks

    task_file = tmp_path / "hits.py"
    task_file.write_text(TASK_FILE)
    grid = tmp_path / "grid.toml"
    grid.write_text('[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "original"\n[[methods]]\n'
                    f'name = "procrustes"\n[[tasks]]\nname = "hits"\n{task_params}')
    data = tmp_path / "data"
    if not data.exists():
        write_fixture_data(data)
    methods.cache_clear(), tasks.cache_clear(), load_registry.cache_clear()
    registry = load_registry((str(task_file),))
    options = RunOptions(data_dir=data, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False,
                         extra_files=(str(task_file),))
    encoder = ToyEncoder()
    return Runner(load_grid(grid, registry), options, lambda name, batch: encoder, registry).run()


def test_each_row_names_items_that_give_back_its_value_and_a_rerun_writes_nothing(tmp_path):
    first = run(tmp_path)
    assert first.done > 0 and first.failed == 0
    rows = ResultStore(tmp_path / "out").rows()
    store = ItemStore(tmp_path / "out")
    for row in rows:
        items = store.load(row["items"])[(row["metric"], row["subset"])]
        assert value(items) == pytest.approx(row["value"]) and len(items.ids) == row["n"]
    files = sorted((tmp_path / "out" / "items").iterdir())
    assert len(files) == first.done
    second = run(tmp_path)
    assert second.done == 0 and sorted((tmp_path / "out" / "items").iterdir()) == files


def test_items_that_do_not_give_back_the_score_fail_only_that_cell(tmp_path):
    summary = run(tmp_path, "params = { misreport = 0.5 }\n")
    assert summary.done == 0 and summary.failed > 0
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert all("do not describe the score" in e["message"] for e in errors)
    assert not (tmp_path / "out" / "items").exists()


def test_the_file_is_content_addressed_and_orphans_are_found(tmp_path):
    hits = Items(Statistic.MEAN, ("a", "b", "c"), {"value": np.array([1, 0, 1], np.int8)})
    scores = [Score("p1", 200 / 3, 3, items=hits), Score("p5", 100.0, 3)]
    store = ItemStore(tmp_path)
    name = store.save("cell1", scores)
    assert name == store.save("cell1", list(scores)) and encode(scores)[1] in name  # same content, same file
    other = store.save("cell1", [Score("p1", 100 / 3, 3, items=Items(Statistic.MEAN, ("a", "b", "c"),
                                                                      {"value": np.array([0, 0, 1])}))])
    assert other != name
    assert store.save("cell2", [Score("p5", 1.0, 1)]) == ""  # no items, no file
    loaded = store.load(name)
    assert set(loaded) == {("p1", "")} and loaded[("p1", "")].ids == ("a", "b", "c")
    assert store.orphans({name}) == [tmp_path / other]
    (tmp_path / name).write_bytes(b"truncated")
    with pytest.raises(ValueError, match="unreadable"):
        store.load(name)
    with pytest.raises(FileNotFoundError, match="missing"):
        store.load("items/none.npz")
