"""Runtimes imported from several threads at once: never a half-initialised module."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

# Two threads of a fresh process import tokenizers at the same moment, as a build's tokenizer and chunking threads
# did. Plain imports fail this way in most runs ("cannot import name 'Model' from partially initialized module").
RACE = """
import sys, threading
sys.path.insert(0, {root!r})
from semsearch import runtimes
errors, barrier = [], threading.Barrier(2)

def take(name, attr):
    barrier.wait()
    try:
        getattr(runtimes.load(name), attr)
    except Exception as e:
        errors.append(repr(e))

threads = [threading.Thread(target=take, args=("tokenizers.models", "Unigram")),
           threading.Thread(target=take, args=("tokenizers", "Tokenizer"))]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors)
"""


def test_two_threads_loading_tokenizers_at_once_both_get_the_whole_module():
    code = RACE.format(root=str(ROOT))
    for _ in range(8):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_preload_imports_in_the_calling_thread():
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from semsearch import runtimes; " \
           "runtimes.preload('tokenizers'); print('tokenizers.models' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "True", proc.stderr
