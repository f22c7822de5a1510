"""Hugging Face hub fallbacks, used only when the data root has no local copy of a task's data and the
user asked for them (`ALIGNBENCH_HUB=1`): the harness runs offline, and a missing local folder must
fail at once with a clear message instead of trying the network.

Revisions are pinned (the ones MTEB pins), so a hub-loaded number refers to fixed data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

HUB_ENV = "ALIGNBENCH_HUB"


class HubUnavailableError(FileNotFoundError):
    pass


@dataclass(frozen=True)
class HubSource:
    path: str
    revision: str
    split: str = "test"

    def describe(self) -> str:
        return f"{self.path}@{self.revision[:12]} ({self.split})"


TATOEBA = HubSource("mteb/tatoeba-bitext-mining", "9080400076fbadbb4c4dcb136ff4eddc40b42553")
STS17 = HubSource("mteb/sts17-crosslingual-sts", "faeb762787bd10488a50c8b5be4a3b82e411949c")


def _fail(source: HubSource, local: str, error: Exception) -> HubUnavailableError:
    return HubUnavailableError(
        f"no local copy at {local} and {source.describe()} could not be loaded from the Hugging Face hub "
        f"({type(error).__name__}: {error}); put the original files under the data root instead"
    )


def _allowed(source: HubSource, local: str) -> None:
    if os.environ.get(HUB_ENV) != "1":
        raise HubUnavailableError(f"no local copy at {local}; the hub fallback {source.describe()} is off "
                                  f"(set {HUB_ENV}=1 to allow it, or put the original files under the data root)")


def configs(source: HubSource, local: str) -> list[str]:
    _allowed(source, local)
    try:
        import datasets

        return sorted(datasets.get_dataset_config_names(source.path, revision=source.revision))
    except Exception as error:
        raise _fail(source, local, error) from error


def rows(source: HubSource, config: str, local: str) -> list[dict]:
    _allowed(source, local)
    try:
        import datasets

        return list(datasets.load_dataset(source.path, config, split=source.split, revision=source.revision))
    except Exception as error:
        raise _fail(source, local, error) from error
