"""The analyzers are pure: no I/O libraries, no clock, nothing from the other layers."""

from __future__ import annotations

import ast
from pathlib import Path

import vurti.analyze

PACKAGE = Path(vurti.analyze.__file__).parent
FORBIDDEN_MODULES = {"time", "datetime", "requests", "httpx", "sqlalchemy", "redis", "celery", "socket", "random", "os"}
ALLOWED_VURTI = ("vurti.domain", "vurti.analyze")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_package_has_modules():
    assert len(list(PACKAGE.glob("*.py"))) >= 5


def test_no_io_or_clock_imports():
    for path in PACKAGE.glob("*.py"):
        for name in imported_modules(path):
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"
            if name.startswith("vurti"):
                assert name.startswith(ALLOWED_VURTI), f"{path.name} imports {name}"


def test_no_clock_reads_in_source():
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        for needle in ("time.time(", "monotonic(", ".now(", "utcnow(", "open("):
            assert needle not in text, f"{path.name} contains {needle}"
