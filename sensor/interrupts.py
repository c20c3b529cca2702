"""A checkpoint where the compiled sensor lets signal handlers run.

Python runs a signal handler (SIGTERM raising ``KeyboardInterrupt``, a stop flag...) only when the
interpreter executes bytecode. The hot modules are compiled with mypyc: a loop inside them over
packets that yield no exchange never executes any, so a SIGTERM would wait for the loop to end.
They call ``checkpoint`` every few dozen packets; entering this pure-Python function is enough for
pending handlers to run (and raise, if they do). This module must stay out of ``HOT_MODULES``.
"""

from __future__ import annotations


def checkpoint() -> None:
    """Run pending signal handlers now (by being Python bytecode); costs one call."""
    return None
