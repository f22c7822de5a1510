import subprocess
import sys

import pytest

from bench import registry
from bench.specs import Category, MethodSpec, TaskSpec


def test_builtin_methods_and_tasks_are_discovered_with_complete_metadata():
    methods = registry.methods()
    assert {"original", "procrustes", "normalization"} <= set(methods)
    assert methods["procrustes"].spec.category is Category.A
    assert methods["normalization"].spec.category is Category.D
    assert methods["original"].spec.category is Category.CONTROL
    for entry in methods.values():
        assert isinstance(entry.spec, MethodSpec)
        assert entry.spec.citation and entry.spec.version and "built-in" in entry.origin
    tasks = registry.tasks()
    assert {"tatoeba", "bucc", "sts"} <= set(tasks)
    for entry in tasks.values():
        assert isinstance(entry.spec, TaskSpec)
        assert entry.spec.main_metric in entry.spec.metrics and entry.spec.protocol


def test_unknown_name_suggests_the_closest():
    with pytest.raises(registry.RegistryError, match="did you mean 'procrustes'"):
        registry.get_method("procustes")
    with pytest.raises(registry.RegistryError, match="did you mean 'tatoeba'"):
        registry.get_task("tatoba")


def test_method_file_registers_and_duplicates_fail_naming_both_origins(tmp_path):
    extra = tmp_path / "my_method.py"
    extra.write_text(
        "from dataclasses import dataclass\n"
        "from bench.registry import method\n"
        "from bench.specs import *\n"
        "@method(MethodSpec('my-method', Category.A, '1', 'Me 2026', Mode.OFFLINE, Signal.NONE,"
        " WordAlignmentSource.NOT_APPLICABLE, Level.SENTENCE))\n"
        "@dataclass\n"
        "class Mine:\n"
        "    def needs(self): return frozenset()\n"
        "    def fit(self, data): return self\n"
        "    def transform(self, X, lang): return X\n"
    )
    assert registry.get_method("my-method", (str(extra),)).origin == f"file {extra}"
    duplicate = tmp_path / "dup.py"
    duplicate.write_text(extra.read_text().replace("'my-method'", "'original'"))
    with pytest.raises(registry.RegistryError, match=r"duplicate name 'original'.*methods.original.*dup.py"):
        registry.methods((str(duplicate),))


def test_importing_packages_has_no_side_effects():
    code = ("import bench.registry as r, methods.procrustes, tasks.tatoeba, bench.cli, bench.runner;"
            "print(r.methods.cache_info().currsize, r.tasks.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "0"]
