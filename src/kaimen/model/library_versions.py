"""The versions of the libraries a model's numbers depend on, and how a reload differs from them.

A model records the versions it was fitted under (`running` at fit time); its artifact carries
them under the content hash, and a model read back elsewhere lists each difference as a
`VersionDrift` (`version_drift`). Drift does not refuse a model: a newer NumPy or LightGBM
usually scores the same, but a bit-identical reload is only promised under the recorded
versions, so whoever loads a model can show what changed. An artifact written before versions
were recorded has none, and every library then drifts from "not recorded".
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

from kaimen import __version__

# Distribution names: what fits the models (NumPy, SciPy, scikit-learn, LightGBM) and what
# computes their training data (DuckDB, Ibis, Arrow), besides Python and kaimen itself.
LIBRARIES = (
    "python",
    "kaimen",
    "numpy",
    "scipy",
    "scikit-learn",
    "lightgbm",
    "pyarrow",
    "duckdb",
    "ibis-framework",
)


@dataclass(frozen=True)
class VersionDrift:
    """One library whose version differs between a model's artifact and this process.

    `recorded` is None for an artifact that did not record it (written before versions were
    recorded); `running` is None for a library recorded by a newer kaimen and not installed here.
    """

    library: str
    recorded: str | None
    running: str | None

    def __str__(self) -> str:
        recorded = self.recorded or "not recorded"
        running = self.running or "not installed"
        return f"{self.library}: {recorded} in the artifact, {running} here"


def _version(library: str) -> str:
    """Raises metadata.PackageNotFoundError for a library that is not installed."""
    if library == "python":
        return platform.python_version()
    if library == "kaimen":
        # The source's own version: kaimen may run from a checkout that is not installed.
        return __version__
    return metadata.version(library)


@functools.cache
def _running() -> tuple[tuple[str, str], ...]:
    # Each is a dependency of kaimen (or Python itself), so installed wherever kaimen is.
    return tuple((library, _version(library)) for library in LIBRARIES)


def running() -> dict[str, str]:
    """The version of each of `LIBRARIES` in this process."""
    return dict(_running())


def _installed(library: str) -> str | None:
    try:
        return _version(library)
    except metadata.PackageNotFoundError:
        return None


def version_drift(recorded: Mapping[str, str]) -> tuple[VersionDrift, ...]:
    """Every library whose `recorded` version is not the one running here: `LIBRARIES` in
    order, then any other library the artifact recorded. Empty when nothing differs."""
    here = running()
    libraries = [*LIBRARIES, *sorted(set(recorded) - set(LIBRARIES))]
    drift = (
        VersionDrift(library, recorded.get(library), here.get(library) or _installed(library))
        for library in libraries
    )
    return tuple(d for d in drift if d.recorded != d.running)
