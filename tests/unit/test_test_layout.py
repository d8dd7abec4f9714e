"""The suite's own layout: pytest imports test modules by basename (no packages), so two test
files with one name in different folders break collection of the whole suite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_no_two_test_modules_share_a_name() -> None:
    names = Counter(path.name for path in TESTS.rglob("*.py") if ".venv" not in path.parts)
    assert [name for name, count in names.items() if count > 1] == []
