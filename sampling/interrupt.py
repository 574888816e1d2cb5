"""Ctrl-C that always stops natplan within seconds, cleanly.

Python turns SIGINT into ``KeyboardInterrupt`` only between bytecodes, so a solver running in
native code (CP-SAT, SCIP, PyVRP) for its whole time limit would keep a planner waiting, and a
solver that installs its own SIGINT handler would swallow the key press. While
:func:`interrupt_guard` is active (the ``natplan`` command line):

* SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the main thread, which unwinds normally:
  temporary folders are removed by their ``finally`` blocks, the output folder is unchanged;
* a watcher thread learns of every signal at once through :func:`signal.set_wakeup_fd`; if the
  main thread has not finished within ``grace_s`` seconds (it is inside native code), or on a
  second Ctrl-C, the watcher removes every temporary folder registered with
  :func:`register_cleanup`, kills the worker processes and exits with code 130.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

EXIT_INTERRUPTED = 130
"""Exit code of a process stopped by Ctrl-C (128 + SIGINT), as shells report it."""

MESSAGE = "interrupted: stopped; the output folder was not changed"
SHOW_CURSOR = "\x1b[?25h"
"""Terminal control sequence that shows the cursor (hidden while a progress bar runs)."""

_cleanups: set[Path] = set()
_cleanups_lock = threading.Lock()


def register_cleanup(path: Path) -> None:
    """Remove ``path`` (a temporary folder) if the process has to be stopped the hard way."""
    with _cleanups_lock:
        _cleanups.add(Path(path))


def unregister_cleanup(path: Path) -> None:
    """``path`` is finished with (swapped in or removed)."""
    with _cleanups_lock:
        _cleanups.discard(Path(path))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def hard_exit() -> None:
    """Remove registered temporary folders, kill worker processes, exit with code 130."""
    with _cleanups_lock:
        paths = list(_cleanups)
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    for child in multiprocessing.active_children():
        child.kill()
    try:
        if sys.stderr.isatty():  # a live progress bar hides the cursor: show it again
            sys.stderr.write(f"{SHOW_CURSOR}\n")
        sys.stderr.write(f"{MESSAGE}\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_INTERRUPTED)


def _watch(read_fd: int, grace_s: float) -> None:
    """Wait for signals on ``read_fd``; hard-exit if the main thread does not stop in time."""
    deadline: float | None = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([read_fd], [], [], timeout)
        if not ready:
            hard_exit()  # the main thread is stuck in native code
        data = os.read(read_fd, 64)
        if not data:
            return  # the guard was closed: the main thread finished
        hits = sum(b in (signal.SIGINT, signal.SIGTERM) for b in data)
        if not hits:
            continue
        if deadline is not None or hits > 1:
            hard_exit()  # a second Ctrl-C: stop now
        deadline = time.monotonic() + grace_s


@contextmanager
def interrupt_guard(grace_s: float = 3.0) -> Iterator[None]:
    """Make SIGINT/SIGTERM stop the process within ``grace_s`` seconds (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    old_int = signal.signal(signal.SIGINT, _raise_interrupt)
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    watcher = threading.Thread(target=_watch, args=(read_fd, grace_s), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        signal.set_wakeup_fd(old_wakeup)
        os.close(write_fd)  # the watcher reads end-of-file and returns
        watcher.join(timeout=1.0)
        os.close(read_fd)
