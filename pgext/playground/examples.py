"""``--run-examples``: every ```python block of the tutorial
(``tutorial.md`` in this package, read as package data so an installed pgext
has it too), run in order in one namespace, printing what each
block prints and the value of a block's last expression (as a REPL would).

The blocks are the same ones ``tests/test_docs.py`` runs; they get
``POSTGRES_CONFIG`` / ``TIMESCALE_CONFIG`` (the servers of this run).
"""

from __future__ import annotations

import ast
import inspect
import pprint
import re
import traceback
from importlib import resources
from typing import Any

TUTORIAL_NAME = "tutorial.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_HEADING = re.compile(r"^(#{1,3}) (.+)$", re.M)


class ExampleFailed(Exception):
    pass


def tutorial_text() -> str:
    """The tutorial's Markdown, from the installed package."""
    tutorial = resources.files("pgext.playground") / TUTORIAL_NAME
    return tutorial.read_text(encoding="utf-8")


def blocks(text: str) -> list[tuple[int, str, str]]:
    """(line, heading, source) of every ```python block."""
    found = []
    for match in _BLOCK.finditer(text):
        before = text[: match.start()]
        prose = _FENCE.sub("", before)  # a "# comment" in code is no heading
        headings = _HEADING.findall(prose)
        heading = headings[-1][1] if headings else ""
        found.append((before.count("\n") + 2, heading, match.group(1)))
    return found


async def _run_block(
    source: str, line: int, name: str, namespace: dict[str, Any]
) -> Any:
    """Run one block; return the value of its last expression (or None)."""
    tree = ast.parse(source, mode="exec")
    ast.increment_lineno(tree, line - 1)
    last: ast.expr | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        final = tree.body.pop()
        assert isinstance(final, ast.Expr)
        last = final.value
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    result = eval(compile(tree, name, "exec", flags=flags), namespace)
    if inspect.isawaitable(result):
        await result
    if last is None:
        return None
    expression = ast.Expression(last)
    value = eval(compile(expression, name, "eval", flags=flags), namespace)
    if inspect.isawaitable(value):
        value = await value
    return value


async def run_examples(
    postgres_config: dict[str, Any],
    timescale_config: dict[str, Any] | None,
    text: str | None = None,
    name: str = TUTORIAL_NAME,
) -> int:
    """Run the examples of ``text`` (the tutorial by default); return how
    many ran.  Raises :class:`ExampleFailed` naming the first block that
    failed."""
    text = tutorial_text() if text is None else text
    namespace: dict[str, Any] = {
        "__name__": "pgext_tutorial",
        "POSTGRES_CONFIG": dict(postgres_config),
        "TIMESCALE_CONFIG": dict(timescale_config) if timescale_config else None,
    }
    found = blocks(text)
    for number, (line, heading, source) in enumerate(found, start=1):
        print(f"\n--- example {number}/{len(found)} ({name}:{line}, {heading})")
        try:
            value = await _run_block(source, line, name, namespace)
        except Exception as error:
            traceback.print_exc()
            raise ExampleFailed(
                f"{name}: example {number} (line {line}) failed: {error!r}"
            ) from error
        if value is not None:
            print(_show(value))
    return len(found)


def _show(value: Any) -> str:
    if isinstance(value, list) and len(value) > 12:
        shown = pprint.pformat(value[:12], width=100, sort_dicts=False)
        return f"{shown}\n... ({len(value)} items)"
    if isinstance(value, str) and len(value) > 2000:
        return value[:2000] + f"... ({len(value)} characters)"
    return pprint.pformat(value, width=100, sort_dicts=False)
