"""Running the real playground command as a subprocess, and a headless
Chromium for its admin pages."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pgext.harness.servers import POSTGRES_ENV, SHARED_SESSION_ENV, TIMESCALE_ENV
from tests.browser import chromium as shared_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "playground"

_POSTGRES = re.compile(r"throwaway cluster at postgres://\S+@127\.0\.0\.1:(\d+)/")
_PGLITE = re.compile(r"PGlite \(WebAssembly\) at postgres://\S+@127\.0\.0\.1:(\d+)/")


def command(*args: str, script: bool = False) -> list[str]:
    """The playground command; ``script=True``: the README's first command,
    ``scripts/playground`` (idempotent set-up, then the playground)."""
    if script:
        return [str(ROOT / "scripts" / "playground"), *args]
    return [sys.executable, "-m", "pgext.playground", *args]


def environment(home: Path) -> dict[str, str]:
    """The playground's environment: without the test session's DSN
    variables, so it starts servers of its own (the tests of given servers
    pass them back explicitly)."""
    env = dict(os.environ)
    for name in (POSTGRES_ENV, TIMESCALE_ENV, SHARED_SESSION_ENV):
        env.pop(name, None)
    env["IPYTHONDIR"] = str(home / "ipython")  # no user profile, no history
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PICCOLO_CONF", None)
    return env


def run(
    *args: str,
    home: Path,
    timeout: float = 150,
    stdin: str | None = None,
    script: bool = False,
    env: dict[str, str] | None = None,
) -> str:
    """Run the playground to completion; return its output (stdout+stderr),
    failing with the output when it exits non-zero."""
    done = subprocess.run(
        command(*args, script=script),
        cwd=ROOT,
        env={**environment(home), **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"exit {done.returncode}:\n{output[-6000:]}"
    return output


def server_ports(output: str) -> list[int]:
    """Ports of the throwaway servers the playground said it started."""
    return [int(m.group(1)) for p in (_POSTGRES, _PGLITE) for m in p.finditer(output)]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Running:
    """A playground process that keeps running (``--admin``); its output is
    collected by a thread."""

    def __init__(self, *args: str, home: Path) -> None:
        self.process = subprocess.Popen(
            command(*args),
            cwd=ROOT,
            env=environment(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = regex.search(self.output)
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the output:\n{self.output[-6000:]}")

    def children(self) -> list[int]:
        """Processes whose parent is the playground (the PGlite server)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(entry.name))
        return found

    def interrupt(self, timeout: float = 60, signum: int = signal.SIGINT) -> int:
        """Ctrl-C (SIGINT, or ``signum``) and wait for the exit; returns the
        exit code."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium with screenshots going to the playground's folder."""
    with shared_chromium(ARTIFACTS) as browser:
        yield browser


class Terminal:
    """The playground in a real terminal (a tmux pane): prompt_toolkit's
    IPython, Ctrl-C and Ctrl-D as a user types them."""

    def __init__(self, *args: str, home: Path) -> None:
        import shlex

        self.tmux = shutil.which("tmux")
        if self.tmux is None:
            import pytest

            pytest.skip("tmux is not installed")
        self.session = f"pgext-playground-{os.getpid()}-{time.monotonic_ns()}"
        # A private tmux server (-L): started from this environment, and no
        # interference with a user's own tmux.
        self.socket = self.session
        env = " ".join(
            f"{k}={shlex.quote(v)}"
            for k, v in environment(home).items()
            if k in ("IPYTHONDIR", "PATH", "PGEXT_POSTGRES_DSN", "PGEXT_TIMESCALE_DSN",
                     "PGEXT_TIMESCALE_SHARED_SESSION", "PGEXT_PG_BINDIR")
        )  # fmt: skip
        line = " ".join(shlex.quote(a) for a in command(*args))
        self.log = home / "exit-code"
        # The pane stays open after the exit so its last screen can be read.
        shell = (
            f"cd {shlex.quote(str(ROOT))} && env {env} {line}; "
            f"echo $? > {self.log}; sleep 120"
        )
        subprocess.run(
            [
                self.tmux,
                "-L",
                self.socket,
                "new-session",
                "-d",
                "-s",
                self.session,
                "-x",
                "160",
                "-y",
                "50",
                shell,
            ],
            check=True,
            # The private tmux server passes its own environment on to the
            # pane: the test session's DSN variables must not be in it.
            env=environment(home),
        )

    def screen(self) -> str:
        assert self.tmux is not None
        return subprocess.run(
            [
                self.tmux,
                "-L",
                self.socket,
                "capture-pane",
                "-p",
                "-S",
                "-200",
                "-t",
                self.session,
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    def keys(self, *keys: str) -> None:
        assert self.tmux is not None
        subprocess.run(
            [self.tmux, "-L", self.socket, "send-keys", "-t", self.session, *keys],
            check=True,
        )

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = regex.search(self.screen())
            if found:
                return found
            if self.log.exists():
                break
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} on the screen:\n{self.screen()}")

    def exit_code(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.exists() and self.log.read_text().strip():
                return int(self.log.read_text())
            time.sleep(0.2)
        raise AssertionError(f"the playground did not exit:\n{self.screen()}")

    def close(self) -> None:
        assert self.tmux is not None
        subprocess.run(
            [self.tmux, "-L", self.socket, "kill-server"],
            capture_output=True,
            check=False,
        )
