"""The build: `nox -s build` (`python -m ner_build.build`) and its parts: options, the model
pin, the lock, the SBOM, the runtime's root file system, the Debian base, several platforms.

The build's public face is `run`, `parse` and `BuildOptions`, re-exported here. They are loaded
when first asked for, so that a part (the base image, which `script/up` uses with nothing but
Python's standard library) loads without the build and its third-party imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ner_build.build.command import BuildOptions, parse, run

__all__ = ["BuildOptions", "parse", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ner_build.build.command"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
