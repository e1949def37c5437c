"""Heavy modules imported on first use, for code that often never needs them.

`monitor poll --once` where every feed is unchanged stores only feed state and a fetch log in
the manifest: it needs neither pyarrow nor numpy (~0.1-0.15 s to import together), though the
modules it runs (the store, the writer's dedup index) use them everywhere else. Such a module
binds the name to a stand-in:

    if TYPE_CHECKING:
        import numpy as np
    else:
        np = lazy_module("numpy", globals(), "np")

The stand-in imports the module on its first attribute access (`np.int64`), puts the real
module in its place in the module's globals, and answers from it: after the first use, `np` is
numpy itself. An `except (OSError, pa.ArrowException)` clause looks its name up only when an
exception reaches it, so a `try` that raises nothing imports nothing.

What it leaves to others: deciding what a command imports (each module says why it waits).
"""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping
from typing import Any


class LazyModule:
    """A stand-in for the module `name`, bound to `alias` in `namespace` (see the docstring)."""

    def __init__(self, name: str, namespace: MutableMapping[str, Any], alias: str) -> None:
        self._name = name
        self._namespace = namespace
        self._alias = alias

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        if self._namespace.get(self._alias) is self:
            self._namespace[self._alias] = module  # later lookups find the module itself
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


def lazy_module(name: str, namespace: MutableMapping[str, Any], alias: str) -> Any:
    return LazyModule(name, namespace, alias)
