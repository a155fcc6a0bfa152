"""The native runtimes (tokenizers, ONNX Runtime, OpenVINO, torch), imported one at a time.

Two threads importing `tokenizers` at the same moment can each be handed the other's half-initialised module
(Python breaks the import-lock cycle that way: "cannot import name 'Model' from partially initialized module
'tokenizers.models'", or KeyError 'tokenizers'). So every import of a runtime goes through `load`, which holds one
process-wide lock, and a build calls `preload` in its own thread before it starts any worker.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_LOCK = threading.RLock()  # re-entrant: importing torch imports tokenizers through transformers


def load(name: str) -> ModuleType:
    """The module `name`, imported under the runtimes' lock unless it is fully imported already."""
    module = sys.modules.get(name)
    if module is not None and not _initialising(module):
        return module
    with _LOCK:
        return importlib.import_module(name)


def preload(*names: str) -> None:
    """Import these runtimes now (in the calling thread), before threads that use them start."""
    for name in names:
        load(name)


def _initialising(module: ModuleType) -> bool:
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))
