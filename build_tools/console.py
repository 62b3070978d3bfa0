"""All terminal output goes through here; the only module that imports rich.

Human-facing messages go to stderr so that ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from build_tools import ci

__all__ = ["Reporter", "Row", "reporter"]


@dataclass
class Row:
    """One table row: cells plus an optional rich style for the whole row."""

    cells: Sequence[str]
    style: str | None = None


@dataclass
class Reporter:
    """Writes notices, warnings, step lines, tables and progress bars to stderr."""

    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))
    verbose: bool = False
    quiet: bool = False

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(escape(message))

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.print(f"[dim]{escape(message)}[/dim]")

    def notice(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[cyan]notice:[/cyan] {escape(message)}")

    def warning(self, message: str) -> None:
        if (line := ci.annotation("warning", message)) is not None:
            self.err.out(line, highlight=False)
            return
        self.err.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def error(self, message: str) -> None:
        if (line := ci.annotation("error", message)) is not None:
            self.err.out(line, highlight=False)
            return
        self.err.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)

    def command(self, line: str) -> None:
        """Echo a command about to run (``+ cmd``), the way shells trace."""
        if not self.quiet:
            self.err.print(f"[dim]+ {escape(line)}[/dim]", soft_wrap=True)

    def raw(self, text: str) -> None:
        """Text that must reach the user verbatim (log tails)."""
        self.err.out(text, highlight=False)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """A timed step: prints a check mark or a cross with the elapsed time."""
        start = time.monotonic()
        try:
            with ci.log_group(title, lambda line: self.err.out(line, highlight=False)):
                self.info(f"▶ {title}")
                yield
        except BaseException:
            self.err.print(f"[red]✕[/red] {escape(title)} ({time.monotonic() - start:.1f}s)")
            raise
        if not self.quiet:
            self.err.print(f"[green]✓[/green] {escape(title)} ({time.monotonic() - start:.1f}s)")

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row.cells), style=row.style)
        self.err.print(table)

    @contextmanager
    def byte_progress(self, description: str, total: int | None) -> Iterator[ByteProgress]:
        """A download/extraction bar; degrades to nothing when stderr is not a terminal."""
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            disable=self.quiet or not self.err.is_terminal,
            transient=True,
        )
        with progress:
            task = progress.add_task(description, total=total)
            yield ByteProgress(progress, task)

    @contextmanager
    def count_progress(self, description: str) -> Iterator[CountProgress]:
        """A bar for counted work (Ninja's [N/M]); plain milestone lines when not a terminal."""
        live = self.err.is_terminal and not self.quiet
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=self.err,
            disable=not live,
            transient=True,
        )
        with progress:
            task = progress.add_task(description, total=None)
            yield CountProgress(progress, task, self if not live else None, description)


@dataclass
class CountProgress:
    """Handle for counted progress; prints every 10% when there is no live bar."""

    _progress: Progress
    _task: object
    _lines: Reporter | None
    _description: str
    _last_decile: int = -1

    def update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)  # type: ignore[arg-type]
        if self._lines is not None and total > 0:
            decile = done * 10 // total
            if decile != self._last_decile:
                self._last_decile = decile
                self._lines.info(f"  {self._description}: {done}/{total}")


@dataclass
class ByteProgress:
    """Handle given to code that reports progress; knows nothing about rich."""

    _progress: Progress
    _task: object

    def advance(self, amount: int) -> None:
        self._progress.update(self._task, advance=amount)  # type: ignore[arg-type]


reporter = Reporter()
