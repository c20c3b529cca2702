"""Stopping the sensor on a signal, promptly, from inside its compiled loops.

Python runs a signal handler only when the interpreter executes bytecode. The hot modules are
compiled with mypyc: a loop inside them over packets that yield no exchange never executes any, so
a SIGTERM would wait for the loop to end. They call ``checkpoint`` every few dozen packets;
entering this pure-Python function is enough for pending handlers to run. This module must stay
out of ``HOT_MODULES``.

``request_stop`` is the handler file runs install for SIGTERM and SIGINT: the first signal asks
for a stop (the loop sees ``stop_requested()`` at its next checkpoint, flushes what it can within
``SHUTDOWN_FLUSH_SECONDS`` and ends); a second one raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

# A stopping sensor closes its open connections (emitting their exchanges) for at most this long;
# the ones left are counted as unflushed_connections. Keeps a SIGTERM answered within a second.
SHUTDOWN_FLUSH_SECONDS = 0.4

_stop = False


def checkpoint() -> None:
    """Run pending signal handlers now (by being Python bytecode); costs one call."""
    return None


def request_stop(signum: int, frame: object) -> None:
    global _stop
    if _stop:
        raise KeyboardInterrupt
    _stop = True


def stop_requested() -> bool:
    return _stop


def reset() -> None:
    global _stop
    _stop = False
