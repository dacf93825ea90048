"""What every `tradeforge` command shares: the consoles, one-line errors and progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True)


@contextmanager
def progress_bar(label: str, enabled: bool = True, unit: str = "bars") -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar fed by (done, total) callbacks from the engine."""
    if not enabled:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def fail(exc: BaseException, debug: bool) -> None:
    """Print an error as one readable line and exit 1 (or re-raise it with --debug)."""
    if debug:
        raise exc
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)
