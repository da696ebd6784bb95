"""Progress of a run, reported to whoever shows it: the CLI's bars, a notebook, or nobody.

A run announces each stage (`stage`: its name and length, so each stage has its own ETA),
advances within it (`advance`: steps done and the statistics row of the last step) and says
what it is doing when no step is advancing (`note`: periodic Hartree-Fock, compiling). The
library never imports a terminal library; `qsolid.console` draws bars for the CLI.
"""

from typing import Protocol


class Progress(Protocol):
    def stage(self, name: str, total: int, done: int = 0) -> None: ...

    def advance(self, done: int, row: dict) -> None: ...

    def note(self, message: str) -> None: ...


class Silent:
    """Reports nothing (the default of the Python API)."""

    def stage(self, name: str, total: int, done: int = 0) -> None:
        pass

    def advance(self, done: int, row: dict) -> None:
        pass

    def note(self, message: str) -> None:
        pass
