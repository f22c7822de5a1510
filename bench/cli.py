"""Command line: `alignbench run | prune | leaderboard | compare-categories | compare-methods |
compare-diagnostics | mlflow-sync | check-method | methods | tasks`.

Exit status: 0 when everything planned ran or was already done (cells that are not applicable are not
failures); 1 when a cell (or a task's language discovery) failed, after the whole grid has run; 2 for a
usage or input error that stops the command before it starts (its message names the file); 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_GRID = "grids/default.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alignbench", description="Benchmark cross-lingual alignment methods.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a grid (resumes: finished cells are skipped) and write the leaderboard")
    run.add_argument("--grid", default=DEFAULT_GRID, help=f"grid TOML file (default {DEFAULT_GRID})")
    run.add_argument("--data", help="data root (default $ALIGNBENCH_DATA)")
    run.add_argument("--out", default=".", help="output root: results/ and leaderboard/ go here (default .)")
    run.add_argument("--cache", help="cache root (default $ALIGNBENCH_CACHE or ~/.cache/alignbench)")
    run.add_argument("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite in results/)")
    run.add_argument("--no-mlflow", action="store_true", help="do not mirror runs to MLflow")
    run.add_argument("--threads", type=int, help="CPU threads (torch and BLAS) of every process computing cells")
    run.add_argument("--exact", action="store_true",
                     help="bit-reproducible values on any executor: one thread, one text per forward pass (slower)")
    run.add_argument("--seeds", type=lambda text: tuple(int(x) for x in text.split(",")),
                     help="only these of the grid's seeds, comma-separated (a slice: a later full run skips its cells)")
    run.add_argument("--method-file", action="append", default=[], help="extra method/task file to register (repeatable)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--executor", choices=("local", "ray", "submitit"), default="local",
                     help="where cells run: here (default), on Ray (pip install -e '.[ray]') or through submitit "
                          "(Slurm, else local processes; pip install -e '.[slurm]')")
    run.add_argument("--address", help="Ray: address of an existing cluster ('auto', 'ray://host:10001'); default: "
                                       "start a local one")
    run.add_argument("--workers", type=int, help="Ray: CPUs of the local cluster; submitit: jobs at once (default 2)")
    run.add_argument("--submitit-folder", default="submitit-logs", help="submitit: folder for its logs and pickles")

    prune = sub.add_parser("prune", help="drop result rows that the grid's current cells supersede (older task or "
                                         "method version, other encoder weights), then re-render the leaderboard")
    prune.add_argument("--grid", default=DEFAULT_GRID, help=f"grid TOML file (default {DEFAULT_GRID})")
    prune.add_argument("--data", help="data root (default $ALIGNBENCH_DATA)")
    prune.add_argument("--out", default=".", help="output root holding results/ (default .)")
    prune.add_argument("--cache", help="cache root (default $ALIGNBENCH_CACHE or ~/.cache/alignbench)")
    prune.add_argument("--method-file", action="append", default=[], help="extra method/task file to register")

    sync = sub.add_parser("mlflow-sync", help="log to MLflow every cell of results.jsonl that the mirror lacks")
    sync.add_argument("--results", default="results/results.jsonl", help="results file (default results/results.jsonl)")
    sync.add_argument("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite beside the results)")
    sync.add_argument("--experiment", default="alignbench/default", help="experiment (default alignbench/default: "
                                                                         "the default grid's)")

    board = sub.add_parser("leaderboard", help="render leaderboard/ from results.jsonl")
    board.add_argument("--results", default="results/results.jsonl", help="results file (default results/results.jsonl)")
    board.add_argument("--out", default="leaderboard", help="output folder (default leaderboard)")

    compare = sub.add_parser("compare-diagnostics", aliases=["compare"],
                             help="print the diagnostics table and the diagnostic-vs-task correlations")
    compare.add_argument("--results", default="results/results.jsonl", help="results file (default results/results.jsonl)")
    compare.add_argument("--min-points", type=int, default=5, help="fewest matched cells for a correlation (default 5)")

    categories = sub.add_parser("compare-categories", help="per task, the best method of each category (a)-(f) with "
                                "95%% CIs, Δ versus original and paired tests (Benjamini-Hochberg corrected)")
    categories.add_argument("--results", default="results/results.jsonl", help="results file (default results/results.jsonl)")
    categories.add_argument("--encoder", help="encoder label (default: the one original has most rows for)")
    categories.add_argument("--layer", type=int, help="layer (default: the one original has most rows for)")
    categories.add_argument("--methods", action="store_true", help="also print every method's Δ versus original")

    versus = sub.add_parser("compare-methods", help="one method minus another on every task both have, with 95%% "
                            "CIs and paired tests (Benjamini-Hochberg over all pairs)")
    versus.add_argument("--pair", nargs=2, action="append", required=True, metavar=("FIRST", "SECOND"),
                        help="two method labels as in results.jsonl (repeat for more pairs)")
    versus.add_argument("--results", default="results/results.jsonl", help="results file (default results/results.jsonl)")
    versus.add_argument("--encoder", help="encoder label (default: the one original has most rows for)")
    versus.add_argument("--layer", type=int, help="layer (default: the one original has most rows for)")
    versus.add_argument("--task", action="append", help="only this task (repeat for more; default: every task)")

    check = sub.add_parser("check-method", help="run the method contract checks on one method")
    check.add_argument("name")
    check.add_argument("--method-file", action="append", default=[], help="file defining the method")

    for name in ("methods", "tasks"):
        listing = sub.add_parser(name, help=f"list registered {name}")
        listing.add_argument("--method-file", action="append", default=[], help="extra file to register")
        if name == "tasks":
            listing.add_argument("--data", help="also list the languages found in this data root (or $ALIGNBENCH_DATA)")
    return parser


def _store(results: Path, must_exist: bool = False):
    """The store around a results file given by path (its errors.jsonl sits beside it)."""
    from bench.results import ResultStore

    if must_exist and not results.is_file():
        raise FileNotFoundError(f"no results file {results} (run a grid first, or pass --results)")
    return ResultStore(results.parent, results)


def _leaderboard(results: Path, out: Path) -> list[Path]:
    from bench.leaderboard import render_results

    return render_results(results, out)


def _silence_progress() -> None:
    """--no-progress: no bar anywhere (ours, transformers' weight loading, the hub's)."""
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _runner(args, tracking: bool):
    from bench.encoders.sources import resolve_encoder
    from bench.grid import load_grid, only_seeds
    from bench.paths import cache_dir, data_dir
    from bench.registry import load_registry
    from bench.runner import Runner, RunOptions
    from bench.tracking import default_tracking_uri

    extra = tuple(args.method_file)
    registry = load_registry(extra)
    spec = load_grid(Path(args.grid), registry)
    if getattr(args, "seeds", None):
        spec = only_seeds(spec, args.seeds)
    results_dir = Path(args.out) / "results"
    cache = cache_dir(args.cache)
    exact = getattr(args, "exact", False)
    # an exact run keeps its own embeddings, fits and checkpoints: batched vectors must not leak into it
    options = RunOptions(
        data_dir=data_dir(args.data), out_dir=results_dir, cache_dir=cache / "exact" if exact else cache,
        tracking_uri=(args.tracking_uri or default_tracking_uri(results_dir)) if tracking else None,
        extra_files=extra, progress=not getattr(args, "no_progress", False), threads=getattr(args, "threads", None),
        exact=exact,
    )

    def factory(name: str, batch_size: int):
        return resolve_encoder(name, cache, batch_size=batch_size, threads=options.threads)

    executor = None
    if getattr(args, "executor", "local") != "local":
        from bench.executors import make_executor

        executor = make_executor(args.executor, args.address, args.workers, args.submitit_folder)
    return Runner(spec, options, factory, registry, executor)


def _run(args) -> int:
    if args.no_progress:
        _silence_progress()
    runner = _runner(args, tracking=not args.no_mlflow)
    spec, options, out = runner.spec, runner.options, Path(args.out)
    results_dir = options.out_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    summary = runner.run()
    stale = "".join(f", {n} stale ({why})" for why, n in sorted(summary.stale.items()))
    print(f"grid {spec.name!r}: {summary.planned} cells planned, {summary.skipped} already done{stale}, "
          f"{summary.not_applicable} not applicable, {summary.done} run, {summary.failed} failed; "
          f"encoder ran {summary.encoder_calls} times ({summary.encode_seconds:.1f} s encoding); {summary.seconds:.1f} s")
    for reason, count in sorted(summary.not_applicable_reasons.items()):
        print(f"  not applicable: {count} cell{'s' if count != 1 else ''}: {reason}")
    for line in summary.warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in summary.errors:
        print(f"  failed: {line}", file=sys.stderr)
    if summary.superseded:
        print(f"note: {summary.superseded} finished cells are superseded by this grid's newer versions; "
              f"`alignbench prune --grid {args.grid}` drops them", file=sys.stderr)
    written = _leaderboard(results_dir / "results.jsonl", out / "leaderboard")
    print(f"results: {results_dir / 'results.jsonl'}\nleaderboard: {written[0].parent}")
    if options.tracking_uri:
        print(f"MLflow: mlflow ui --backend-store-uri {options.tracking_uri}")
    if summary.failed:
        print(f"alignbench: {summary.failed} cells failed (see {results_dir / 'errors.jsonl'}); exit status 1",
              file=sys.stderr)
        return 1
    return 0


def _mlflow_sync(results: Path, tracking_uri: str | None, experiment: str) -> int:
    from bench.tracking import default_tracking_uri, sync_from_results

    store = _store(results, must_exist=True)
    uri = tracking_uri or default_tracking_uri(results.parent)
    logged, present = sync_from_results(store.rows(), uri, results.parent / "mlartifacts", experiment)
    print(f"MLflow {uri}: {logged} cells logged, {present} already there")
    return 0


def _compare(results: Path, min_points: int) -> int:
    from bench.leaderboard import correlation_table, diagnostics_table, pool_training_seeds

    if not results.is_file():
        raise FileNotFoundError(f"no results file {results}")
    rows = pool_training_seeds(_store(results).rows())  # as the leaderboard shows them
    diagnostics, correlations = diagnostics_table(rows), correlation_table(rows, min_points)
    if diagnostics.empty:
        print(f"{results}: no diagnostic rows (run a grid with diagnostics, e.g. grids/rfeval.toml)")
        return 1
    print("Diagnostics (macro average over languages):\n" + diagnostics.reset_index().to_markdown(index=False))
    print("\nPearson r between diagnostics and task main metrics (n matched cells):")
    print(correlations.reset_index().to_markdown(index=False) if not correlations.empty else "(no task rows to match)")
    return 0


def _compare_categories(results: Path, encoder: str | None, layer: int | None, with_methods: bool) -> int:
    from bench import compare

    if not results.is_file():
        raise FileNotFoundError(f"no results file {results}")
    rows = _store(results).rows()
    default = compare.default_setup(rows)
    if default is None:
        print(f"{results}: no rows of {compare.CONTROL!r}, nothing to compare against")
        return 1
    encoder, layer = encoder or default[0], layer if layer is not None else default[1]
    methods = compare.compare_methods(rows, results.parent, encoder, layer)
    cells = compare.compare_categories(rows, results.parent, encoder, layer, methods=methods)
    if not cells:
        print(f"{results}: no task rows at encoder {encoder!r}, layer {layer}")
        return 1
    print(f"Categories compared at encoder {encoder}, layer {layer}\n\n{compare.category_legend()}\n")
    print(compare.comparison_table(cells).reset_index().to_markdown(index=False))
    pairs = compare.category_pairs(rows, results.parent, encoder, layer, cells)
    if pairs:
        print("\nCategory against category (best minus best, Δ [95% CI], * = BH-adjusted p < 0.05):\n")
        print(compare.pairs_table(pairs).reset_index().to_markdown(index=False))
    if with_methods:
        print("\nEvery method, Δ versus original [95% CI] (* = BH-adjusted p < 0.05):\n")
        print(compare.methods_table(methods).reset_index().to_markdown(index=False))
    return 0


def _compare_methods(results: Path, pairs: list[tuple[str, str]], encoder: str | None, layer: int | None,
                     tasks: tuple[str, ...] | None) -> int:
    from bench import compare

    if not results.is_file():
        raise FileNotFoundError(f"no results file {results}")
    rows = _store(results).rows()
    default = compare.default_setup(rows)
    if default is None and (encoder is None or layer is None):
        raise ValueError(f"{results}: no rows of {compare.CONTROL!r} to take the default encoder and layer from; "
                         "pass --encoder and --layer")
    encoder, layer = encoder or default[0], layer if layer is not None else default[1]
    found = compare.method_pairs(rows, results.parent, encoder, layer, pairs, tasks)
    if not found:
        print(f"{results}: no task that both methods of a pair have at encoder {encoder!r}, layer {layer}")
        return 1
    print(f"Methods compared at encoder {encoder}, layer {layer}: first minus second on the same items of the "
          f"languages both cover (their number in brackets), Δ [95% CI], * = Benjamini-Hochberg-adjusted p < "
          f"{compare.ALPHA} over the table; ↓ = lower is better\n")
    print(compare.method_pairs_table(found).reset_index().to_markdown(index=False))
    return 0


def _listing(kind: str, extra: tuple[str, ...], data: str | None = None) -> int:
    from bench.registry import load_registry

    registry = load_registry(extra)
    entries = registry.methods if kind == "methods" else registry.tasks
    root = None
    if kind == "tasks" and (data or os.environ.get("ALIGNBENCH_DATA")):
        from bench.paths import data_dir

        root = data_dir(data)
    width = max(map(len, entries), default=0)
    for name, entry in sorted(entries.items()):
        s = entry.spec
        if kind == "methods":
            uses = ", ".join(sorted(r.value for r in s.supervision)) or "nothing"
            print(f"{name:<{width}} ({s.category.value}) {s.mode.value}, signal: {s.signal.value}, level: {s.level.value}, "
                  f"uses: {uses} — {s.citation}")
        else:
            found = f"; languages: {' '.join(entry.cls().languages(root))}" if root else ""
            print(f"{name:<{width}} {s.protocol} v{s.version}, main metric {s.main_metric} — {s.dataset}{found}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "prune":
            runner = _runner(args, tracking=False)
            cells = runner.superseded()
            inapplicable = {item.cell_id for item in runner.plan().not_applicable}  # records of code that no longer runs them
            dropped = runner.store.drop_cells(cells | runner.stale_failures() | inapplicable)
            print(f"dropped {dropped} rows of {len(cells)} superseded cells from {runner.store.path}")
            earlier = runner.store.drop_older_groups()
            print(f"dropped {earlier} rows of earlier runs of cells that ran again (code or data changed)")
            from bench.results import read_jsonl

            referenced = {row.get("items", "") for row in read_jsonl(runner.store.path)}
            orphans = runner.items.orphans(referenced)
            for path in orphans:
                path.unlink()
            print(f"removed {len(orphans)} per-item files no result row names")
            written = _leaderboard(runner.store.path, Path(args.out) / "leaderboard")
            print(f"leaderboard: {written[0].parent}")
            return 0
        if args.command == "leaderboard":
            written = _leaderboard(Path(args.results), Path(args.out))
            print("\n".join(str(p) for p in written))
            return 0
        if args.command == "mlflow-sync":
            return _mlflow_sync(Path(args.results), args.tracking_uri, args.experiment)
        if args.command in ("compare-diagnostics", "compare"):
            return _compare(Path(args.results), args.min_points)
        if args.command == "compare-categories":
            return _compare_categories(Path(args.results), args.encoder, args.layer, args.methods)
        if args.command == "compare-methods":
            return _compare_methods(Path(args.results), [tuple(p) for p in args.pair], args.encoder, args.layer,
                                    tuple(args.task) if args.task else None)
        if args.command == "check-method":
            from bench.contract import check_method
            from bench.registry import load_registry

            for passed in check_method(load_registry(tuple(args.method_file)).method(args.name)):
                print(f"ok  {passed}")
            print(f"{args.name}: all contract checks passed")
            return 0
        return _listing(args.command, tuple(args.method_file), getattr(args, "data", None))
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; run the same command again to resume", file=sys.stderr)
        return 130
    except (OSError, ValueError, LookupError, RuntimeError, AssertionError) as error:
        if os.environ.get("ALIGNBENCH_DEBUG"):
            raise
        print(f"alignbench: error: {error}", file=sys.stderr)
        return 2
