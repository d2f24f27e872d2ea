"""SIGTERM and SIGHUP raised as an exception like SIGINT, and sections a signal must not cut in half.

`Interrupted` is what `handle_termination` makes SIGTERM and SIGHUP (the terminal closed without
``nohup``) raise, so that ``kill PID`` or a closed terminal unwinds the run through the same
cleanup as Ctrl-C (staging folder and lock removed, the state recorded as interrupted; see
`daudit.output.staging`). `deferred_signals` holds these signals back while a few renames or a
cleanup run, and delivers them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

__all__ = ["Interrupted", "handle_termination", "deferred_signals", "exit_code", "STOP_SIGNALS"]

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_CAUGHT = (signal.SIGINT, *STOP_SIGNALS)


class Interrupted(BaseException):
    """Raised in the main thread when the process receives SIGTERM or SIGHUP (a BaseException, like
    KeyboardInterrupt, so that ``except Exception`` blocks do not swallow it)."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


# Frames in which Python prints an exception as "Exception ignored in ..." and drops it: a stop
# signal raised there would be lost (seen with distributed's gc callback in the client process).
_EXCEPTIONS_DROPPED_IN = frozenset({"__del__", "_gc_callback"})


def _raise_interrupted(signum, frame):
    f = frame
    while f is not None:
        if f.f_code.co_name in _EXCEPTIONS_DROPPED_IN:
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()  # deliver it again, outside
            return
        f = f.f_back
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


def handle_termination() -> bool:
    """Make SIGTERM and SIGHUP raise `Interrupted` in the main thread; returns whether any was installed.

    Each is left alone where whoever started the process already handles or ignores it (``nohup``
    ignores SIGHUP: the run goes on).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    installed = False
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _raise_interrupted)
            installed = True
    if installed and signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # Ctrl-C, never lost
        signal.signal(signal.SIGINT, _raise_interrupted)
    return installed


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + int(signum)


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT, SIGTERM and SIGHUP back while the block runs; deliver the first one afterwards.

    For the few renames that swap results in and for cleanups: a second Ctrl-C must not leave
    half of them done. A no-op outside the main thread (only it can set handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for sig in _CAUGHT:
        handler = signal.getsignal(sig)
        if handler in (signal.SIG_IGN, None):
            continue
        previous[sig] = handler
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])
