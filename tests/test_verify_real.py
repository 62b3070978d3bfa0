"""Opt-in: ``verify`` end to end on a real Ollama build.

``BUILD_TOOLS_OLLAMA_BUILD`` names an install directory (``bin/ollama`` + ``lib/ollama``) of a
real Ollama build, e.g. the staging directory of ``python -m build_tools build``. The test
starts it, creates the generated model, generates, stops it, and checks the per-device report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.console import reporter

pytestmark = [pytest.mark.real_source]

ENV = "BUILD_TOOLS_OLLAMA_BUILD"


def _install() -> Path:
    value = os.environ.get(ENV)
    if not value:
        pytest.skip(f"set {ENV} to an install directory of a real Ollama build to run verify on it")
    path = Path(value)
    if not (path / "bin" / "ollama").is_file():
        pytest.fail(f"{ENV}={value} has no bin/ollama")
    return path


def test_verify_real_build(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    install = _install()
    monkeypatch.setattr(reporter, "quiet", True)
    argv = ["verify", str(install), "--exclude-arch", "50", "--timeout", "180", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"], data["failures"]
    assert data["completion"].strip()
    assert [s["name"] for s in data["steps"]] == [
        "start server",
        "create model",
        "generate",
        "stop server",
    ]
    assert all(s["ok"] for s in data["steps"])
    assert data["log"]["version"]
    assert data["log"]["inference_devices"], "no 'inference compute' line in the server log"
    if not data["gpu_observable"]:
        assert any("GPU use could not be observed" in note for note in data["notes"])
        assert [d["library"].lower() for d in data["log"]["inference_devices"]] == ["cpu"]
