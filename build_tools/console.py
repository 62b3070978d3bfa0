"""All terminal output goes through here; the only module that uses rich.

Human-facing messages go to stderr so that ``--json`` output on stdout stays machine-readable.
On a terminal, rich draws colours, tables and live progress bars. Anywhere else (a CI log, a
pipe, a file) every message is one plain line, never wrapped, so a command or a path can be
copied from the log; tables become aligned plain rows, and rich is not even imported.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from build_tools import ci

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ByteProgress", "CountProgress", "Reporter", "Row", "one_line", "reporter"]


@dataclass
class Row:
    """One table row: cells plus an optional rich style for the whole row."""

    cells: Sequence[str]
    style: str | None = None


def _plain_table(title: str, columns: Sequence[str], rows: Sequence[Row]) -> list[str]:
    cells = [list(columns), *(list(row.cells) for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [title]
    for line in cells:
        # The last column is not padded: no trailing spaces.
        padded = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=False)]
        lines.append("  ".join([*padded, line[-1]]).rstrip())
    return lines


class Reporter:
    """Writes notices, warnings, step lines, tables and progress to stderr."""

    def __init__(self) -> None:
        self.verbose = False
        self.quiet = False
        self._console: Console | None = None
        self._console_stream: TextIO | None = None

    # --- where output goes ---------------------------------------------------------------
    @property
    def stream(self) -> TextIO:
        return sys.stderr  # looked up each time: tests and callers may replace it

    @property
    def is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _rich(self) -> Console:
        """The rich console, made on first use, for a terminal only."""
        if self._console is None or self._console_stream is not self.stream:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
            self._console_stream = self.stream
        return self._console

    def _line(self, text: str, template: str | None = None, message: str | None = None) -> None:
        """One message. On a terminal, ``template`` is its rich form, with ``{}`` standing for
        ``message`` (escaped); elsewhere ``text`` is written as it is, on one line."""
        if template is not None and self.is_terminal:
            shown = template.format(_escape(text if message is None else message))
            self._rich().print(shown, soft_wrap=True)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    # --- messages ------------------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet:
            self._line(message, "{}")

    def debug(self, message: str) -> None:
        if self.verbose:
            self._line(message, "[dim]{}[/dim]")

    def notice(self, message: str) -> None:
        if not self.quiet:
            message = one_line(message)
            self._line(f"notice: {message}", "[cyan]notice:[/cyan] {}", message)

    def warning(self, message: str) -> None:
        message = one_line(message)
        if (line := ci.annotation("warning", message)) is not None:
            self._line(line)
            return
        self._line(f"warning: {message}", "[yellow]warning:[/yellow] {}", message)

    def error(self, message: str) -> None:
        message = one_line(message)
        if (line := ci.annotation("error", message)) is not None:
            self._line(line)
            return
        self._line(f"error: {message}", "[bold red]error:[/bold red] {}", message)

    def command(self, line: str) -> None:
        """Echo a command about to run (``+ cmd``), the way shells trace."""
        if not self.quiet:
            self._line(f"+ {line}", "[dim]{}[/dim]")

    def raw(self, text: str) -> None:
        """Text that must reach the user verbatim (log tails)."""
        self.stream.write(text)
        self.stream.flush()

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """A timed step: prints a check mark or a cross with the elapsed time."""
        start = time.monotonic()
        try:
            with ci.log_group(title, self._line):
                self.info(f"▶ {title}")
                yield
        except BaseException:
            took = f"{title} ({time.monotonic() - start:.1f}s)"
            self._line(f"✕ {took}", "[red]✕[/red] {}", took)
            raise
        if not self.quiet:
            took = f"{title} ({time.monotonic() - start:.1f}s)"
            self._line(f"✓ {took}", "[green]✓[/green] {}", took)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """A table; nothing at all when it has no rows."""
        if not rows:
            return
        if not self.is_terminal:
            for line in _plain_table(title, columns, rows):
                self._line(line)
            return
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_escape(cell) for cell in row.cells), style=row.style)
        self._rich().print(table)

    # --- progress ------------------------------------------------------------------------
    @contextmanager
    def byte_progress(self, description: str, total: int | None) -> Iterator[ByteProgress]:
        """A download/extraction bar on a terminal; nothing elsewhere."""
        if self.quiet or not self.is_terminal:
            yield ByteProgress(None, None)
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._rich(),
            transient=True,
        )
        with progress:
            task = progress.add_task(description, total=total)
            yield ByteProgress(progress, task)

    @contextmanager
    def count_progress(self, description: str) -> Iterator[CountProgress]:
        """A bar for counted work (Ninja's [N/M]); plain milestone lines when not a terminal."""
        if self.quiet or not self.is_terminal:
            yield CountProgress(None, None, None if self.quiet else self, description)
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=self._rich(),
            transient=True,
        )
        with progress:
            task = progress.add_task(description, total=None)
            yield CountProgress(progress, task, None, description)


_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\x0b": "\\v", "\x0c": "\\f"})


def one_line(text: str) -> str:
    """A message as one line: line breaks inside it (from a value it quotes) are escaped, so
    that a log reader or a CI annotation sees the whole message."""
    return text.translate(_LINE_BREAKS)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@dataclass
class CountProgress:
    """Handle for counted progress; prints every 10% when there is no live bar."""

    _progress: Any
    _task: Any
    _lines: Reporter | None
    _description: str
    _last_decile: int = -1

    def update(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)
        if self._lines is not None and total > 0:
            decile = done * 10 // total
            if decile != self._last_decile:
                self._last_decile = decile
                self._lines.info(f"  {self._description}: {done}/{total}")


@dataclass
class ByteProgress:
    """Handle given to code that reports progress; knows nothing about rich."""

    _progress: Any
    _task: Any

    def advance(self, amount: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=amount)


reporter = Reporter()
