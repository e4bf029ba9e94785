"""How the benchmark runner reports its stages: the Progress protocol and a silent implementation
(the CLI's click progress bar is the other one)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Where the runner reports its stages and how far a timing stage has got."""

    def stage(self, text: str) -> None: ...

    def advance(self, fraction: float) -> None: ...


class SilentProgress:
    """A Progress that reports nothing (library use and tests)."""

    def stage(self, text: str) -> None:
        """Ignore the stage."""

    def advance(self, fraction: float) -> None:
        """Ignore the fraction."""
