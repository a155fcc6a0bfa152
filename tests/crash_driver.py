"""A writer process for the reliability tests: runs one index operation, optionally killing itself.

    python crash_driver.py KIND INDEX ARG MODEL FAULT_AT [COMMIT_LOG]

KIND: "build" (`build_index(ARG, INDEX, batch_chunks=8)`: several commits, then the merge policy),
"compact" (`semsearch compact`), "update" (`update_index` with the records and deletions in the JSON
file ARG, batch_chunks=8) or "cycle" (the readers test's writer: ARG is a JSON list of steps).
FAULT_AT=N > 0: SIGKILL this process just before its Nth durable-write step (an `os.fsync` or
`os.replace` call, which every segment, delete mark and commit goes through); 0: no kill, and the
number of steps is printed at exit. No hook in the store: the calls are wrapped here.
COMMIT_LOG: append `{"generation": g, "ids": [live chunk ids]}` for every commit, once it is visible.
"""

from __future__ import annotations

import json
import os
import signal
import sys

STEPS = 0


def _arm(fault_at: int) -> None:
    def wrap(real):
        def step(*args, **kwargs):
            global STEPS
            STEPS += 1
            if STEPS == fault_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return step

    os.fsync, os.replace = wrap(os.fsync), wrap(os.replace)


def _log_commits(path: str) -> None:
    from semsearch.index import store

    real = store.Writer.commit

    def commit(self, **changes):
        done = real(self, **changes)
        gen = self.generation
        ids = [int(i) for s, alive in zip(gen.segments, gen.alive) for i in (s.ids if alive is None else s.ids[alive])]
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"generation": gen.generation, "ids": ids}) + "\n")
        return done

    store.Writer.commit = commit


def run(kind: str, index: str, arg: str, model: str) -> None:
    """One operation of the given kind."""
    from reliability_helpers import api_docs

    import semsearch
    from semsearch.cli import app
    from semsearch.ingest.builder import update_index

    if kind == "build":
        semsearch.build_index(arg, index, model=model or None, batch_chunks=8)
    elif kind == "compact":
        app(["compact", "--index", index], standalone_mode=False)
    elif kind == "update":
        spec = json.loads(open(arg, encoding="utf-8").read())
        update_index(index, api_docs(spec["add"]), spec["delete"], batch_chunks=8)
    elif kind == "cycle":
        for step in json.loads(open(arg, encoding="utf-8").read()):
            run(step[0], index, step[1], model)


def main() -> None:
    """Entry point: see the module docstring."""
    kind, index, arg, model, fault_at = sys.argv[1:6]
    if len(sys.argv) > 6:
        _log_commits(sys.argv[6])
    _arm(int(fault_at))
    run(kind, index, arg, model)
    print(f"fault-points {STEPS}", flush=True)


if __name__ == "__main__":
    main()
