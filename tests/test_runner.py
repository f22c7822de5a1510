"""Runner behaviour with a toy encoder on hand-written fixture data (no model, no real data)."""

from collections import Counter
from pathlib import Path

import pytest

from bench.grid import GridError, load_grid
from bench.results import ResultStore, read_jsonl
from bench.runner import Runner, RunOptions
from tests.helpers import TOY_GRID as GRID
from tests.helpers import ToyEncoder, write_fixture_data



def _runner(tmp_path: Path, encoder: ToyEncoder, tracking_uri: str | None = None) -> Runner:
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(GRID)
    data = tmp_path / "data"
    if not data.exists():
        write_fixture_data(data)
    options = RunOptions(data_dir=data, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", tracking_uri=tracking_uri,
                         progress=False)
    return Runner(load_grid(grid_file), options, lambda name, batch: encoder)


def _row_keys(tmp_path):
    return [(r["cell_id"], r["metric"], r["subset"]) for r in read_jsonl(tmp_path / "out" / "results.jsonl")]


def test_cells_without_data_are_not_applicable_and_a_malformed_file_fails_only_its_cells(tmp_path):
    summary = _runner(tmp_path, ToyEncoder()).run()
    # 2 layers x 3 methods x (tatoeba de, fr + sts en-en) x 2 seeds = 36 cells
    assert summary.planned == 36
    # the fixture has no fr-en parallel data and no French monolingual text: procrustes and
    # normalization cannot run for fr (2 layers x 2 seeds each); they are listed, never run, not failed
    assert (summary.not_applicable, summary.failed, summary.done) == (8, 0, 28)
    assert summary.not_applicable_reasons == {"no parallel sentences for fr in the data": 4,
                                              "no monolingual text for fr in the data": 4}
    out = tmp_path / "out"
    assert not read_jsonl(out / "errors.jsonl")
    listing = read_jsonl(out / "not_applicable.jsonl")
    assert len(listing) == 8 and {e["language"] for e in listing} == {"fr"}
    before = (out / "not_applicable.jsonl").read_bytes()
    again = _runner(tmp_path, ToyEncoder()).run()
    assert (again.done, again.failed, again.not_applicable, again.skipped) == (0, 0, 8, 28)
    assert (out / "not_applicable.jsonl").read_bytes() == before
    keys = _row_keys(tmp_path)
    assert len(keys) == len(set(keys))

    # a German Tatoeba file with a line too many fails exactly the cells that read it (3 methods x 2 layers
    # x 2 seeds), naming the file and line; the anchored STS cells stay current: the guard now bans every
    # field of the broken file, and none of them is a training text
    german = tmp_path / "data" / "tatoeba" / "tatoeba.deu-eng.deu"
    german.write_text(german.read_text() + "Ein Satz zu viel.\n")
    broken = _runner(tmp_path, ToyEncoder()).run()
    assert broken.failed == 12 and broken.stale == {"data": 12}
    errors = read_jsonl(out / "errors.jsonl")
    assert {(e["task"], e["language"]) for e in errors} == {("tatoeba", "de")}
    assert all("tatoeba/tatoeba.deu-eng.eng:5" in e["message"] and str(tmp_path) not in e["message"] for e in errors)
    store = ResultStore(out)
    assert {(r["task"], r["language"]) for r in store.current_rows()} == {("tatoeba", "fr"), ("sts", "en-en")}
    retry = _runner(tmp_path, ToyEncoder()).run()  # failed cells are retried; the same failure is logged once
    assert retry.failed == 12 and retry.done == 0
    assert len(read_jsonl(out / "errors.jsonl")) == len(errors)


def test_interrupted_grid_resumes_without_losing_or_duplicating_rows(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    _runner(reference, ToyEncoder()).run()
    expected = sorted(_row_keys(reference))

    with pytest.raises(KeyboardInterrupt):
        _runner(tmp_path, ToyEncoder(fail_after=3)).run()
    partial = _row_keys(tmp_path)
    assert 0 < len(partial) < len(expected)
    resumed = _runner(tmp_path, ToyEncoder()).run()
    assert resumed.skipped > 0
    assert sorted(_row_keys(tmp_path)) == expected
    again = _runner(tmp_path, ToyEncoder(fail_after=0, exception=AssertionError)).run()
    assert again.done == 0 and again.encoder_calls == 0


def test_rows_follow_the_public_schema(tmp_path):
    _runner(tmp_path, ToyEncoder()).run()
    rows = ResultStore(tmp_path / "out").rows()
    required = {"task", "protocol", "language", "method", "category", "encoder", "layer", "seed", "metric", "value", "n",
                "fit_seconds", "eval_seconds", "versions", "protocol_detail", "is_main", "kind", "cell_id"}
    assert all(required <= set(row) for row in rows)
    tatoeba = [r for r in rows if r["task"] == "tatoeba" and r["is_main"]]
    assert Counter(r["metric"] for r in tatoeba) == {"p1_en_to_xx": len(tatoeba)}
    assert all(r["protocol_detail"]["layer"] == r["layer"] for r in rows)
    procrustes = next(r for r in rows if r["method"] == "procrustes" and r["language"] == "de")
    assert procrustes["anchors"]["parallel_sentences:de"]["n"] == 30


def test_mlflow_mirror_has_a_parent_and_nested_runs(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    summary = _runner(tmp_path, ToyEncoder(), tracking_uri=uri).run()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("alignbench/toy")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("alignbench.kind") == "grid"]
    cells = [r for r in runs if r.data.tags.get("alignbench.kind") == "cell"]
    assert len(parents) == 1 and len(cells) == summary.planned - summary.not_applicable == summary.done
    assert parents[0].info.status == "FINISHED"  # not-applicable cells do not mark the grid FAILED
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in cells)
    assert sum(c.info.status == "FAILED" for c in cells) == summary.failed
    ok = next(c for c in cells if c.info.status == "FINISHED" and c.data.tags["task"] == "tatoeba")
    assert "p1_en_to_xx" in ok.data.metrics and ok.data.tags["category"] in {"a", "d", "control"}


def test_ctrl_c_before_a_cell_reaches_mlflow_is_repaired_by_the_next_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    import bench.tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log_cell, calls = bench.tracking.MlflowTracker.log_cell, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the cell's rows are in results.jsonl; its MLflow run never comes
            raise KeyboardInterrupt
        return log_cell(self, *args, **kwargs)

    monkeypatch.setattr(bench.tracking.MlflowTracker, "log_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _runner(tmp_path, ToyEncoder(), tracking_uri=uri).run()
    assert len(list((tmp_path / "out").glob(".mlflow-open-*.json"))) == 1
    monkeypatch.setattr(bench.tracking.MlflowTracker, "log_cell", log_cell)
    summary = _runner(tmp_path, ToyEncoder(), tracking_uri=uri).run()
    assert any("repaired: 0 RUNNING run(s) closed as KILLED, 1 missing cell(s) logged" in w for w in summary.warnings), summary.warnings
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("alignbench/toy").experiment_id], max_results=1000)
    logged = {r.data.tags["cell_id"] for r in runs if r.data.tags.get("alignbench.kind") == "cell" and r.info.status == "FINISHED"}
    assert {row["cell_id"] for row in read_jsonl(tmp_path / "out" / "results.jsonl")} <= logged
    assert not list((tmp_path / "out").glob(".mlflow-open-*")) and all(r.info.status != "RUNNING" for r in runs)
    again = _runner(tmp_path, ToyEncoder(), tracking_uri=uri).run()
    assert not any("repaired" in w for w in again.warnings)


@pytest.mark.parametrize("text, message", [
    ('name="x"\nbogus=1\n', r"unknown key\(s\) \['bogus'\]"),
    ('[[encoders]]\nname="toy"\nlayers=[1]\n[[methods]]\nname="procustes"\n[[tasks]]\nname="sts"\n', "did you mean 'procrustes'"),
    ('[[encoders]]\nname="toy"\nlayers=[1]\n[[methods]]\nname="procrustes"\nparams={max_pair=3}\n[[tasks]]\nname="sts"\n',
     "unknown parameter 'max_pair'; did you mean 'max_pairs'"),
    ('[[encoders]]\nname="toy"\n[[methods]]\nname="original"\n[[tasks]]\nname="sts"\n', "needs 'layers'"),
])
def test_grid_validation(tmp_path, text, message):
    path = tmp_path / "g.toml"
    path.write_text(text)
    with pytest.raises(GridError, match=message):
        load_grid(path)


def test_rows_of_an_older_task_version_are_superseded_and_pruned(tmp_path):
    import json

    _runner(tmp_path, ToyEncoder()).run()
    path = tmp_path / "out" / "results.jsonl"
    rows = read_jsonl(path)
    old = json.loads(json.dumps(rows[0]))
    old["cell_id"], old["resolved_config"]["task"]["version"], old["cell_rows"] = "old-version-cell", "0", 1
    unrelated = json.loads(json.dumps(rows[0]))  # a cell this grid does not plan (another seed): kept
    unrelated["cell_id"], unrelated["resolved_config"]["seed"], unrelated["cell_rows"] = "other-grid-cell", 7, 1
    path.write_text(path.read_text() + json.dumps(old) + "\n" + json.dumps(unrelated) + "\n")

    runner = _runner(tmp_path, ToyEncoder())
    assert runner.superseded() == {"old-version-cell"}
    assert runner.store.drop_cells(runner.superseded()) == 1
    left = {r["cell_id"] for r in read_jsonl(path)}
    assert "old-version-cell" not in left and "other-grid-cell" in left and len(left) == len({r["cell_id"] for r in rows}) + 1
    assert _runner(tmp_path, ToyEncoder()).run().superseded == 0

    errors = tmp_path / "out" / "errors.jsonl"
    row = rows[0]
    failed = {"run_id": "r", "cell_id": row["cell_id"], "method_label": row["method_label"], "encoder": row["encoder"],
              "layer": row["layer"], "task": row["task"], "language": row["language"], "seed": row["seed"],
              "error_type": "ValueError", "message": "m", "traceback": "", "at": "2000-01-01T00:00:00+00:00"}
    stale = {**failed, "cell_id": "old-failure"}
    errors.write_text(json.dumps(failed) + "\n" + json.dumps(stale) + "\n")
    runner = _runner(tmp_path, ToyEncoder())
    assert runner.stale_failures() == {"old-failure"}
    runner.store.drop_cells(runner.stale_failures())
    assert "old-failure" not in {e["cell_id"] for e in read_jsonl(errors)}
    assert failed["cell_id"] in {e["cell_id"] for e in read_jsonl(errors)}


def test_a_new_task_version_that_renames_its_protocol_still_supersedes_the_old_cells():
    from bench.results import superseded_cells

    old = {"encoder": {"name": "e", "fingerprint": "f1"}, "method": {"name": "m", "version": "1"},
           "task": {"name": "t", "version": "2", "protocol": "old-id"}, "language": "de"}
    new = {**old, "task": {"name": "t", "version": "3", "protocol": "new-id"}}
    other = {**old, "language": "fr"}
    rows = [{"cell_id": "old", "resolved_config": old}, {"cell_id": "other", "resolved_config": other}]
    assert superseded_cells(rows, {"new": new}) == {"old"}


def test_a_torn_append_is_cut_back_to_the_last_complete_cell(tmp_path):
    import json

    from bench.results import repair

    def row(cell, metric, n, run="r1"):
        return json.dumps({"cell_id": cell, "metric": metric, "subset": "", "run_id": run, "started_at": "t",
                           "cell_rows": n, "finished_at": "t", "value": 1.0})

    path = tmp_path / "results.jsonl"
    complete = row("a", "m1", 2) + "\n" + row("a", "m2", 2) + "\n"
    for torn in (row("b", "m1", 2) + "\n",  # one complete line of a two-row cell: no torn line to see
                 row("b", "m1", 2) + "\n" + row("b", "m2", 2)[:30],  # and a torn second line
                 '{"cell_id": "b", "metr'):  # a torn first line
        path.write_text(complete + torn)
        assert [r["cell_id"] for r in ResultStore(tmp_path).rows()] == ["a", "a"]  # readers ignore the torn cell
        assert repair(path) == len(torn.encode())
        assert path.read_text() == complete
    assert repair(path) == 0


METHOD_FILE = '''
from dataclasses import dataclass
import numpy as np
from bench.registry import method
from bench.specs import Category, Level, MethodSpec, Mode, Signal, WordAlignmentSource


@method(MethodSpec("shifted", Category.D, "1", "test fixture", Mode.OFFLINE, Signal.NONE,
                   WordAlignmentSource.NOT_APPLICABLE, Level.SENTENCE))
@dataclass
class Shifted:
    def needs(self):
        return ()

    def fit(self, data):
        return self

    def transform(self, X, lang):
        return X if lang == "en" else X + SHIFT
'''


def test_editing_a_method_file_without_a_version_bump_reruns_its_cells(tmp_path):
    method_file = tmp_path / "shifted.py"
    method_file.write_text(METHOD_FILE.replace("SHIFT", "0.5"))
    grid = tmp_path / "grid.toml"
    grid.write_text('[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "original"\n'
                    '[[methods]]\nname = "shifted"\n[[tasks]]\nname = "tatoeba"\n')
    data = write_fixture_data(tmp_path / "data")

    def run():
        from bench.registry import methods, tasks

        methods.cache_clear(), tasks.cache_clear()  # a new invocation: the file is read again
        from bench.registry import load_registry

        load_registry.cache_clear()
        registry = load_registry((str(method_file),))
        options = RunOptions(data_dir=data, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False,
                             extra_files=(str(method_file),))
        encoder = ToyEncoder()
        return Runner(load_grid(grid, registry), options, lambda name, batch: encoder, registry).run()

    def shifted_values():
        return {r["language"]: r["value"] for r in ResultStore(tmp_path / "out").rows()
                if r["method"] == "shifted" and r["metric"] == "p1_en_to_xx"}

    first = run()
    assert first.done == 4 and first.stale == {}
    before = shifted_values()
    assert run().done == 0
    method_file.write_text(METHOD_FILE.replace("X + SHIFT", "X[:1].repeat(len(X), 0)"))  # same version "1"
    edited = run()
    assert edited.stale == {"code": 2} and edited.done == 2  # only the edited method's cells
    after = shifted_values()
    assert set(after) == {"de", "fr"} and after != before


def test_adding_a_parallel_file_reruns_only_the_anchored_cells(tmp_path):
    runner = _runner(tmp_path, ToyEncoder())
    first = runner.run()
    assert first.done == 28
    folder = tmp_path / "data" / "parallel" / "de-en"
    (folder / "extra.de").write_text("Noch ein Satz.\nUnd noch einer.\n", encoding="utf-8")
    (folder / "extra.en").write_text("One more sentence.\nAnd another one.\n", encoding="utf-8")
    again = _runner(tmp_path, ToyEncoder()).run()
    # procrustes on tatoeba de (de-en anchors) and normalization on tatoeba de and sts en-en (English
    # monolingual text reads every parallel folder), 2 layers x 2 seeds each; original, procrustes on
    # en-en (no anchors to read) and the not-applicable French cells stay as they are
    assert again.stale == {"data": 12} and again.done == 12 and again.skipped == 16
    rows = ResultStore(tmp_path / "out").rows()
    anchored = [r for r in rows if r["method"] == "procrustes" and r["language"] == "de"]
    assert anchored and all("extra.de" in r["anchors"]["parallel_sentences:de"]["sources"] for r in anchored)


def test_two_processes_appending_through_the_store_lose_nothing(tmp_path):
    import subprocess
    import sys

    script = ("import sys\nfrom bench.results import ResultStore, locked_append\n"
              "store = ResultStore(sys.argv[1])\n"
              "for i in range(200):\n"
              "    locked_append(store.path, ['{\"cell_id\": \"%s-%d\", \"metric\": \"m\", \"pad\": \"%s\"}' % (sys.argv[2], i, 'x' * 3000)])\n")
    workers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name]) for name in ("a", "b")]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    rows = read_jsonl(tmp_path / "results.jsonl")
    assert len(rows) == 400 and len({r["cell_id"] for r in rows}) == 400


def test_a_second_run_on_the_same_output_folder_stops_with_a_clear_error(tmp_path):
    from bench.results import StoreLockedError

    runner = _runner(tmp_path, ToyEncoder())
    with ResultStore(tmp_path / "out").exclusive():
        with pytest.raises(StoreLockedError, match="another alignbench run is writing here"):
            runner.run()
    assert runner.run().done == 28  # the lock is released with its holder


def test_prune_keeps_only_each_cells_latest_run_and_current_failures(tmp_path):
    import json

    path = tmp_path / "results.jsonl"

    def row(cell, run, value, at="2026-01-01T00:00:00+00:00"):
        return {"cell_id": cell, "metric": "m", "subset": "", "run_id": run, "started_at": run, "cell_rows": 1,
                "finished_at": at, "value": value}

    path.write_text("".join(json.dumps(r) + "\n" for r in [row("a", "r1", 1.0), row("b", "r1", 2.0), row("a", "r2", 3.0)]))
    error = {"cell_id": "b", "at": "2025-01-01T00:00:00+00:00", "message": "old failure, succeeded since"}
    later = {"cell_id": "c", "at": "2026-02-01T00:00:00+00:00", "message": "still failing"}
    (tmp_path / "errors.jsonl").write_text(json.dumps(error) + "\n" + json.dumps(later) + "\n")
    store = ResultStore(tmp_path)
    assert store.drop_older_groups() == 1
    assert [(r["cell_id"], r["value"]) for r in read_jsonl(path)] == [("b", 2.0), ("a", 3.0)]
    assert [e["cell_id"] for e in read_jsonl(tmp_path / "errors.jsonl")] == ["c"]


def test_a_run_with_the_mlflow_mirror_makes_no_network_call(tmp_path, monkeypatch):
    import socket

    attempts = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("localhost", "127.0.0.1", "::1", None):
            attempts.append(host)
            raise OSError(f"network blocked in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError(f"network blocked in this test: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    summary = _runner(tmp_path, ToyEncoder(), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").run()
    import time

    time.sleep(2)  # a telemetry thread would have fired by now
    assert summary.done == 28 and not summary.warnings
    assert attempts == []


def test_layers_beyond_the_encoders_depth_are_refused_before_any_cell_runs(tmp_path):
    runner = _runner(tmp_path, ToyEncoder())
    grid = tmp_path / "deep.toml"
    grid.write_text(GRID.replace("layers = [1, 2]", "layers = [1, 99]"))
    runner = Runner(load_grid(grid), runner.options, lambda name, batch: ToyEncoder())
    with pytest.raises(GridError, match=r"deep.toml: encoders\[0\].layers: encoder toy has hidden_states 0\.\.4; "
                                        r"layers \[99\] do not exist"):
        runner.run()
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_the_recorded_commit_is_dirty_only_when_code_changed_not_the_runs_own_outputs(tmp_path):
    import subprocess

    from bench.runner import _git_sha

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "results").mkdir()
    (tmp_path / "leaderboard").mkdir()
    (tmp_path / "results" / "results.jsonl").write_text("{}\n")
    (tmp_path / "leaderboard" / "README.md").write_text("# board\n")
    (tmp_path / "method.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    clean = _git_sha(tmp_path)
    assert len(clean) == 40
    (tmp_path / "results" / "results.jsonl").write_text("{}\n{}\n")
    (tmp_path / "leaderboard" / "README.md").write_text("# board, re-rendered\n")
    assert _git_sha(tmp_path) == clean
    (tmp_path / "method.py").write_text("x = 2\n")
    assert _git_sha(tmp_path) == clean + "-dirty"


def test_a_new_evaluation_set_reruns_trained_cells_only_if_it_bans_one_of_their_training_items(tmp_path):
    from bench.anchors import evaluation_texts, guard_files
    from tasks.bli import test_dictionary_files

    assert _runner(tmp_path, ToyEncoder()).run().done == 28
    folder = tmp_path / "data" / "dictionaries" / "muse_test_annotated"
    folder.mkdir(parents=True)
    test_set = folder / "de-en.5000-6500.n.txt"
    test_set.write_text("Haus\thouse\nBaum\ttree\n", encoding="utf-8")  # shares no text with the parallel data
    for cached in (guard_files, test_dictionary_files, evaluation_texts):
        cached.cache_clear()  # a new invocation would list the folder again
    unrelated = _runner(tmp_path, ToyEncoder()).run()
    assert unrelated.stale == {} and unrelated.done == 0
    banned = "".join(f"Satz Nummer {i} über Dinge.\tSentence number {i} about things.\n" for i in range(10))
    test_set.write_text("Haus\thouse\n" + banned, encoding="utf-8")  # procrustes samples 30 of the 40 pairs
    for cached in (guard_files, test_dictionary_files, evaluation_texts):
        cached.cache_clear()
    banning = _runner(tmp_path, ToyEncoder()).run()
    # the banned pairs leave procrustes' de-en anchors and normalization's English text: the same 12
    # cells as adding a parallel file; original and the anchor-free cells stay current
    assert banning.stale == {"data": 12} and banning.done == 12
    rows = [r for r in ResultStore(tmp_path / "out").rows() if r["method"] == "procrustes" and r["language"] == "de"]
    assert rows and all(r["anchors"]["parallel_sentences:de"]["dropped_for_overlap"] == 10 for r in rows[-4:])
