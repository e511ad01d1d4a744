"""Packaging metadata (#16): one version, an SPDX license with its file, project URLs."""

from __future__ import annotations

import tomllib

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
