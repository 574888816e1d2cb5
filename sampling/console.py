"""What ``natplan`` shows on stderr while it works: a line per finished stage, live bars.

:class:`StageConsole` is a :data:`sampling.progress.Progress` callback. Each stage that ends
prints one line (:func:`sampling.report.stage_line`: name, seconds, what it did). When stderr is
a terminal the running stage also shows a ``rich`` progress bar with its elapsed time: for a
stage with a wall-clock safety stop (``--time-limit``) the bar fills towards that stop, for the
others it pulses. When stderr is not a terminal (CI logs, pipes, files) there are no bars and
no control codes, only the lines. Quiet consoles print nothing.

Log records of natplan's loggers go through :class:`ConsoleLogHandler`, which prints them
above a running bar instead of through it.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType
from typing import ClassVar, TextIO

from rich.console import Console
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress_bar import ProgressBar
from rich.text import Text

from sampling.progress import StageEvent
from sampling.report import STAGE_NAMES, stage_line

__all__ = ["ConsoleLogHandler", "StageConsole", "bar_total", "limit_text"]

BAR_WIDTH = 30


def _positive(value: object) -> float | None:
    """``value`` as a positive number of seconds, else ``None``."""
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def bar_total(budget_s: object, elapsed: float) -> float | None:
    """What a stage's bar fills towards: its work budget while the wall clock is inside it
    (a quiet reference machine ends about then), ``None`` (a pulse) for a stage without one
    or once the budget has passed on a slower or busier machine. Never the wall-clock safety
    stop: at 4 × the budget a bar towards it would stay three-quarters empty."""
    budget = _positive(budget_s)
    return budget if budget is not None and elapsed < budget else None


class _LimitBar(ProgressColumn):
    """A bar that fills towards the stage's work budget (:func:`bar_total`), or pulses."""

    def render(self, task: Task) -> ProgressBar:
        elapsed = task.elapsed or 0.0
        total = bar_total(task.fields.get("budget_s"), elapsed)
        if total is not None:
            return ProgressBar(total=total, completed=elapsed, width=BAR_WIDTH)
        return ProgressBar(total=None, pulse=True, width=BAR_WIDTH, animation_time=elapsed)


def limit_text(budget_s: object, limit_s: object) -> str:
    """``work 30 s · stop 120 s`` beside a bar: the work budget and the wall-clock safety stop,
    each when the stage has one."""
    budget, limit = _positive(budget_s), _positive(limit_s)
    parts = [f"work {budget:g} s" if budget else "", f"stop {limit:g} s" if limit else ""]
    return " · ".join(part for part in parts if part)


class _LimitText(ProgressColumn):
    """:func:`limit_text` beside the bar."""

    def render(self, task: Task) -> Text:
        text = limit_text(task.fields.get("budget_s"), task.fields.get("limit_s"))
        return Text(text, style="progress.remaining")


class StageConsole:
    """Stage lines (and, on a terminal, live bars) on ``stream``; use as a context manager.

    ``live`` forces bars on or off (default: on when ``stream`` is a terminal); ``quiet``
    prints nothing at all.
    """

    _active: ClassVar[StageConsole | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, stream: TextIO | None = None, *, quiet: bool = False, live: bool | None = None
    ) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.quiet = quiet
        is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = (is_tty if live is None else live) and not quiet
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self.lines: list[str] = []
        """Every stage line printed so far (for callers that summarise the run)."""

    def __enter__(self) -> StageConsole:
        if self.live:
            console = Console(file=self.stream, force_terminal=True, highlight=False)
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<12}"),
                _LimitBar(),
                TimeElapsedColumn(),
                _LimitText(),
                console=console,
                transient=True,
            )
            self._progress.start()
        with StageConsole._active_lock:
            StageConsole._active = self
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display (restoring the cursor); safe to call twice."""
        with StageConsole._active_lock:
            if StageConsole._active is self:
                StageConsole._active = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._tasks.clear()

    def __call__(self, event: StageEvent) -> None:
        """Show a stage starting (a bar, on a terminal) or ending (its line)."""
        if self.quiet:
            return
        if not event.done:
            if self._progress is not None:
                name = STAGE_NAMES.get(event.stage, event.stage)
                self._tasks[event.stage] = self._progress.add_task(
                    name, total=None, limit_s=event.limit_s, budget_s=event.budget_s
                )
            return
        task = self._tasks.pop(event.stage, None)
        if task is not None and self._progress is not None:
            self._progress.remove_task(task)
        line = stage_line(event.stage, event.seconds, event.figures)
        self.lines.append(line)
        self.print(line)

    def print(self, text: str) -> None:
        """Print one line of text as it is (above a running bar; nothing when quiet)."""
        if self.quiet or self.above_bars(text):
            return
        self.stream.write(f"{text}\n")
        self.stream.flush()

    def above_bars(self, text: str) -> bool:
        """Print ``text`` above the running bars; False (nothing printed) when none run."""
        progress = self._progress
        if progress is None:
            return False
        progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        return True

    @classmethod
    def active(cls) -> StageConsole | None:
        """The console whose live display is running, if any."""
        with cls._active_lock:
            return cls._active


class ConsoleLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr log handler that prints through a running :class:`StageConsole` (above its
    bars) and straight to its stream otherwise."""

    def emit(self, record: logging.LogRecord) -> None:
        console = StageConsole.active()
        if console is None:
            super().emit(record)
            return
        try:
            if not console.above_bars(self.format(record)):
                super().emit(record)
        except Exception:
            self.handleError(record)
