"""Every ```python block of docs/*.md and of the tutorial (package data of
``pgext.playground``) runs, in order, as a test.

A document names the servers its examples need in a first-line comment such
as ``<!-- servers: postgres timescale -->``; their Piccolo engine configs are
then in the examples' namespace as ``POSTGRES_CONFIG`` / ``TIMESCALE_CONFIG``.
Blocks may use top-level ``await``.  Blocks fenced as ```py are shown only.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIAL = ROOT / "pgext" / "playground" / "tutorial.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_SERVERS = re.compile(r"<!--\s*servers:\s*([a-z ]+?)\s*-->")


def _documents() -> list[Path]:
    found = [*DOCS.glob("*.md"), TUTORIAL]
    return sorted(p for p in found if _BLOCK.search(p.read_text()))


@pytest.mark.parametrize("document", _documents(), ids=lambda p: p.name)
async def test_document_examples_run(
    document: Path, request: pytest.FixtureRequest
) -> None:
    text = document.read_text()
    wanted = _SERVERS.search(text)
    namespace: dict[str, Any] = {"__name__": f"docs_{document.stem}"}
    for server in wanted.group(1).split() if wanted else ():
        config = request.getfixturevalue(f"{server}_config")
        namespace[f"{server.upper()}_CONFIG"] = dict(config)
    for number, match in enumerate(_BLOCK.finditer(text), start=1):
        source = match.group(1)
        line = text[: match.start()].count("\n") + 2
        code = compile(
            ast.increment_lineno(ast.parse(source, mode="exec"), line - 1),
            f"{document.name}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )
        try:
            result = eval(code, namespace)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            raise AssertionError(
                f"{document.name}: example {number} (line {line}) failed: {error!r}"
            ) from error
