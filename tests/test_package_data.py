"""Every data file the package reads at run time ships in the wheel: each file of
``asgi_sessionsync/`` that is not Python source matches a ``package-data`` pattern of
pyproject.toml (a template missing from it works from a checkout and fails once installed)."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "asgi_sessionsync"


def test_every_data_file_of_the_package_is_declared_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    declared = patterns["asgi_sessionsync"]
    data = [
        PurePosixPath(path.relative_to(PACKAGE).as_posix())
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert data, "the package has data files (templates, catalogues)"
    missing = [str(path) for path in data if not any(path.match(pattern) for pattern in declared)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
