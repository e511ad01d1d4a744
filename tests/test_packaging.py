"""Packaging (#16, #21): one version, an SPDX license with its file, project URLs; and a
wheel that ships what applications run, not this repository's browser harness."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

import asgi_sessionsync
from tests.cli import ROOT


def test_metadata_is_complete_and_the_version_is_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == asgi_sessionsync.__version__
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(project["urls"])
    assert f"## [{asgi_sessionsync.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
    assert any(dep.startswith("build") for dep in project["optional-dependencies"]["test"])


# -- what the wheel ships (#21) --------------------------------------------------------------

# The in-process kit is all of ``asgi_sessionsync.testing`` that ships: it drives no real
# browser and starts no process (the repository's harness for those is tests/harness/).
KIT_MODULES = {"__init__", "browser", "cookies", "kit", "navigation", "network", "sites"}
DRIVER_MODULES = {"browsers", "firefox", "webkit", "webdriver", "redis_server", "processes", "env_site"}
DRIVER_IMPORTS = {"selenium", "marionette_driver", "marionette", "playwright", "trustme"}
# Where Debian puts executables and libraries. The operators' example paths of the docs
# (``/etc/myapp/network.toml``, ``/var/lib/myapp/…``) are theirs to choose, not a system's.
SYSTEM_PATH = re.compile(r"/usr/(?:bin|sbin|lib|lib64|libexec|share|local)\b|x86_64-linux-gnu")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel, built as .ci/run builds it (``python -m build --wheel``), from a copy of
    what goes into it, so that the work tree gets no ``build/`` or ``*.egg-info``."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "asgi_sessionsync", source / "asgi_sessionsync", ignore=skip)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    (path,) = (tmp / "dist").glob("*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_ships_the_in_process_kit_and_no_browser_or_process_harness(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    kit = {n.removeprefix("asgi_sessionsync/testing/").removesuffix(".py") for n in names if "/testing/" in n}
    assert kit == KIT_MODULES
    shipped = {n.rsplit("/", 1)[-1].removesuffix(".py") for n in names if n.endswith(".py")}
    assert not shipped & DRIVER_MODULES
    assert "asgi_sessionsync/testing_apps.py" in names  # the reference apps stay
    assert not any(n.startswith(("tests/", "benchmarks/", "demo/")) for n in names)


def test_the_wheel_holds_no_system_path_and_imports_no_browser_driver(wheel: zipfile.ZipFile) -> None:
    paths: list[str] = []
    imports: list[str] = []
    for name in wheel.namelist():
        if not name.endswith(".py"):
            continue
        text = wheel.read(name).decode("utf-8")
        paths += [f"{name}: {m.group(0)}" for m in SYSTEM_PATH.finditer(text)]
        for node in ast.walk(ast.parse(text)):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            imports += [f"{name}: {m}" for m in modules if m.split(".")[0] in DRIVER_IMPORTS]
        assert "site_from_env" not in text, name
    assert not paths, paths
    assert not imports, imports
