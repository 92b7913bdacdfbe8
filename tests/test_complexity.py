"""The shape the code keeps: no function, method or class in ``src`` above
cyclomatic complexity 10, as ``radon cc`` counts it (every ``if``, loop,
``except``, boolean operator and comprehension adds one), so a change that makes
one grow must split it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from radon.complexity import cc_visit

SRC = Path(__file__).resolve().parent.parent / "src"
MAX_COMPLEXITY = 10


def _blocks(blocks: list[Any]) -> Iterator[Any]:
    """radon's ``blocks`` (functions, classes and their methods), and the closures
    nested in them."""
    for block in blocks:
        yield block
        yield from _blocks(getattr(block, "closures", []))


def test_no_function_in_src_is_above_complexity_10() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 40  # the package is there, not an empty tree
    over = [
        f"{path.relative_to(SRC)}:{block.lineno} {block.fullname} ({block.complexity})"
        for path in files
        for block in _blocks(cc_visit(path.read_text(encoding="utf-8")))
        if block.complexity > MAX_COMPLEXITY
    ]
    assert over == []
