"""simulator.smpp must stay sans-I/O: no sockets, event loops, threads, clocks or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import simulator.smpp

FORBIDDEN = frozenset({"asyncio", "socket", "time", "random", "selectors", "threading"})
PACKAGE_DIR = Path(simulator.smpp.__file__).resolve().parent
SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """'line: module' for every import of a forbidden module, at any nesting depth."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                modules = [node.module]
        elif isinstance(node, ast.Call):
            # __import__("socket") and importlib.import_module("socket") are imports too.
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ("__import__", "import_module") and node.args and isinstance(node.args[0], ast.Constant):
                if isinstance(node.args[0].value, str):
                    modules = [node.args[0].value]
        for module in modules:
            if module.split(".")[0] in FORBIDDEN:
                found.append(f"{filename}:{node.lineno}: {module}")
    return found


def test_sources_were_found():
    names = {path.name for path in SOURCES}
    assert {"constants.py", "tlv.py", "pdu.py", "codec.py", "timefmt.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_module_is_sans_io(path: Path):
    assert forbidden_imports(path.read_text(encoding="utf-8"), str(path)) == []


@pytest.mark.parametrize(
    "source, module",
    [
        ("import socket", "socket"),
        ("import os, asyncio.streams", "asyncio.streams"),
        ("from time import monotonic", "time"),
        ("from threading import Lock as L", "threading"),
        ("import random as r", "random"),
        ("def f():\n    import selectors\n", "selectors"),
        ("class C:\n    def m(self):\n        from asyncio import sleep\n", "asyncio"),
        ("try:\n    import time\nexcept ImportError:\n    pass\n", "time"),
        ("if True:\n    from socket import socket\n", "socket"),
        ("m = __import__('socket')", "socket"),
        ("import importlib\nm = importlib.import_module('random')", "random"),
    ],
)
def test_checker_finds_forbidden_imports(source, module):
    found = forbidden_imports(source)
    assert len(found) == 1
    assert found[0].endswith(f": {module}")


@pytest.mark.parametrize(
    "source",
    [
        "import datetime",
        "from datetime import time",  # the datetime.time class, not the time module
        "from . import time",  # a sibling module, not the standard library's
        "from .socket import thing",
        "import timeit",
        "import randomize",
        "x = 'import socket'",
    ],
)
def test_checker_allows_lookalikes(source):
    assert forbidden_imports(source) == []
