"""Progress bars for the command line (rich), one bar per stage with its own ETA.

Used by the CLI only: the library reports through `qsolid.progress.Progress`.
"""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

SHOWN_COLUMNS = ("energy_ha", "enthalpy_ha", "pretrain_loss", "volume_per_atom_bohr3", "free_energy")


class ConsoleProgress:
    """`qsolid.progress.Progress` drawn with rich; use as a context manager."""

    def __init__(self):
        self.console = Console(stderr=False)
        self.bars = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        self.task = None

    def __enter__(self):
        self.bars.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bars.__exit__(*exc)

    def stage(self, name: str, total: int, done: int = 0) -> None:
        if self.task is not None:
            self.bars.stop_task(self.task)
        self.task = self.bars.add_task(name, total=total, completed=done, info="(compiling)" if done < total else "")

    def advance(self, done: int, row: dict) -> None:
        info = "  ".join(f"{key}={row[key]:.5f}" for key in SHOWN_COLUMNS if key in row)
        self.bars.update(self.task, completed=done, info=info)

    def note(self, message: str) -> None:
        self.bars.console.print(f"[dim]{message}[/dim]")
