"""Progress output for the long steps (servers, bulk loads)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Reporter:
    """Prints ``what: done / total rows (rate)``; on a terminal the line is
    rewritten in place, elsewhere (CI logs, pipes) one line per update."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live = self.stream.isatty()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """``what ... done in 1.2s`` around a step without a count."""
        started = time.perf_counter()
        if not self.quiet:
            print(
                f"  {what} ...",
                end="" if self.live else "\n",
                file=self.stream,
                flush=True,
            )
        yield
        elapsed = time.perf_counter() - started
        if self.quiet:
            return
        if self.live:
            print(f" done in {elapsed:.1f}s", file=self.stream, flush=True)
        else:
            print(f"  {what}: done in {elapsed:.1f}s", file=self.stream, flush=True)

    def counter(self, what: str, total: int) -> Counter:
        return Counter(self, what, total)


class Counter:
    """The callback bulk loaders call with the running row count."""

    def __init__(self, reporter: Reporter, what: str, total: int) -> None:
        self.reporter = reporter
        self.what = what
        self.total = total
        self.started = time.perf_counter()
        self.done = 0

    def __call__(self, done: int) -> None:
        self.done = done
        if self.reporter.quiet:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        text = (
            f"  {self.what}: {done:,} / {self.total:,} rows "
            f"({done / elapsed:,.0f} rows/s)"
        )
        if self.reporter.live:
            print("\r" + text, end="", file=self.reporter.stream, flush=True)
        else:
            print(text, file=self.reporter.stream, flush=True)

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        if self.reporter.live and not self.reporter.quiet:
            print(f" in {elapsed:.1f}s", file=self.reporter.stream, flush=True)
        return elapsed
