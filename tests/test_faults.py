"""Kill trials in CI: SIGKILL a toy grid at each fault point (and at random ones), resume, compare.

Each trial asserts no row lost, none duplicated, values equal to an uninterrupted run, and a third run
that finds every cell done (the caches are reusable). `benchmarks/kill_trials.py --trials 20` runs more.
"""

import sqlite3

import pytest

from tests.faults import plan_trials, reference, run_child, trial


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    return reference(tmp_path_factory.mktemp("reference"))


def test_kill_trials_lose_and_duplicate_nothing(expected, tmp_path):
    values, counts = expected
    assert counts["encode"] and counts["cache"] and counts["fit"] and counts["append"]
    for point, hit in plan_trials(counts, 6, seed=11):
        outcome = trial(tmp_path, point, hit, values)
        assert outcome["killed"] and outcome["resumed"], outcome
        assert (outcome["lost"], outcome["duplicated"], outcome["different"]) == (0, 0, 0), outcome
        assert outcome["third_run_cells"] == 0 and outcome["resume_failed_cells"] == 0, outcome


def test_a_kill_while_mlflow_creates_its_database_does_not_block_later_runs(expected, tmp_path):
    values, _ = expected
    broken = tmp_path / "broken"
    killed = run_child(broken, "mlflow-init", 1500, mlflow=True)  # mid-way through MLflow's first migration
    database = broken / "out" / "mlflow.db"
    if killed.returncode == 0 or not database.exists():  # too slow or too fast to hit the migration: plant one
        database.parent.mkdir(parents=True, exist_ok=True)
        database.unlink(missing_ok=True)
        with sqlite3.connect(database) as db:
            db.execute("create table alembic_version (version_num varchar(32) not null)")
            db.execute("insert into alembic_version values ('0123456789ab')")
    resumed = run_child(broken, "count", 0, mlflow=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    outcome = trial(tmp_path, "mlflow", 2, values, mlflow=True)
    assert (outcome["lost"], outcome["duplicated"], outcome["different"]) == (0, 0, 0), outcome


@pytest.mark.parametrize("point", ["mlflow", "append"])
def test_a_kill_between_results_and_mlflow_is_repaired_on_resume(expected, tmp_path, point):
    """Killed after a cell's rows were appended but before (or while) MLflow logged it: the resume logs
    that cell from results.jsonl and closes the runs left RUNNING as KILLED."""
    values, counts = expected
    outcome = trial(tmp_path, point, max(1, counts[point] // 2), values, mlflow=True)
    assert outcome["killed"] and (outcome["lost"], outcome["duplicated"], outcome["different"]) == (0, 0, 0), outcome
    assert (outcome["mirror_missing"], outcome["mirror_running"], outcome["journal_open"]) == (0, 0, 0), outcome
