"""Which version of each model an export root serves: ``<root>/publishing.json``.

An export adds a version on disk; publishing decides which version is served. TF Serving serves
what ``<root>/models.config`` names, and :func:`keras_gen.export.publish.write_models_config`
writes it from this file: a model with a published version gets ``model_version_policy { specific
{ versions: N } }``, a model whose versions were all exported unpublished is left out, and a model
this file does not know (copied in by hand) keeps TF Serving's default, its newest version.
``keras-gen serve`` follows the same file, so it serves what TF Serving would.

The file is the one home of the published version; it also keeps each model's decisions (why a
version was or was not published) and the evaluations they were made on, so the served version is
measured once. Written atomically under the root's lock; free of TensorFlow.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import file_lock, write_text

PUBLISHING_FILE = "publishing.json"
LOCK_FILE = ".publishing.lock"
UNKNOWN = object()  # a model the file does not know: its newest version is served (TF Serving's default)


def read_publishing(root: str | Path) -> dict:
    """``{"models": {name: {"served": int | None, "log": [...], "evaluations": {...}}}}``; empty when
    the file is absent. A damaged file is an error: guessing would publish the wrong version."""
    path = Path(root) / PUBLISHING_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return {"models": {}}
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is unreadable ({type(err).__name__}); restore it, or delete it to serve each "
                        "model's newest version") from None
    if not isinstance(state, dict) or not isinstance(state.get("models"), dict):
        raise UserError(f"{path} is not a keras_gen publishing file; delete it to serve each model's newest version")
    return state


def served_version(root: str | Path, name: str, state: dict | None = None):
    """The version of ``name`` published under ``root``: an int, None (none is), or :data:`UNKNOWN`."""
    state = read_publishing(root) if state is None else state
    entry = state["models"].get(name)
    if entry is None:
        return UNKNOWN
    served = entry.get("served")
    return served if isinstance(served, int) and not isinstance(served, bool) else None


def update_publishing(root: str | Path, change) -> dict:
    """Apply ``change(state)`` (it edits the dict in place) under the root's lock and write the
    file atomically; return the new state (the caller rewrites ``models.config`` from it)."""
    root = Path(root)
    with file_lock(root / LOCK_FILE):
        state = read_publishing(root)
        change(state)
        write_text(root / PUBLISHING_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")
    return state


def record(entry: dict, version: int, decision: str, reason: str) -> None:
    """Append one decision to a model's log (kept short: the last 100)."""
    entry.setdefault("log", []).append({"version": version, "decision": decision, "reason": reason,
                                        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    del entry["log"][:-100]
