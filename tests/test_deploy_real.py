"""Opt-in end to end: the routers installed into environments of their own, in front of real
Ollama instances.

* ``BUILD_TOOLS_OLLAMA_BUILD`` names an install directory of a real Ollama build (``bin/ollama``
  + ``lib/ollama``, e.g. a ``build`` staging directory). Both groups of the seed box run it on
  this machine, HAProxy (from Debian packages, unpacked into the test-tools cache) in front;
  ``deploy verify`` must see every model answered by its group's instance.
* ``BUILD_TOOLS_E2E_LITELLM=1`` installs the pinned LiteLLM proxy into a venv of its own in the
  test-tools cache (about 750 MB, a few minutes) - or names the ``litellm`` command of such a
  venv - and checks the rendered configuration with LiteLLM's own parser and routes through
  it: between real instances when ``BUILD_TOOLS_OLLAMA_BUILD`` is set, else between stand-ins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.console import reporter
from build_tools.deploy.routers import LITELLM_PIN
from build_tools.paths import default_cache_dir

from boxes import SEED_BOX, write_json_inventory
from deploy_support import make_fake_install

BUILD_ENV = "BUILD_TOOLS_OLLAMA_BUILD"
LITELLM_ENV = "BUILD_TOOLS_E2E_LITELLM"


def real_build() -> Path | None:
    value = os.environ.get(BUILD_ENV)
    if not value:
        return None
    path = Path(value)
    if not (path / "bin" / "ollama").is_file():
        pytest.fail(f"{BUILD_ENV}={value} has no bin/ollama")
    return path


def render_seed(tmp_path: Path, install: Path | None, capsys: pytest.CaptureFixture[str]) -> Path:
    """The seed box rendered with both groups running ``install`` (stand-ins without one)."""
    prefix = tmp_path / "opt"
    for group in ("86", "50"):
        if install is None:
            make_fake_install(prefix / group)
        else:
            prefix.mkdir(exist_ok=True)
            (prefix / group).symlink_to(install)
    seed = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    out = tmp_path / "deploy"
    host = tmp_path / "host"
    host.mkdir()
    argv = [
        "deploy", "render", "--inventory", str(seed), "--output", str(out),
        "--prefix", str(prefix), "--host-root", str(host),
        "--model", "tiny-a=86", "--model", "tiny-b=50",
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    return out


@pytest.fixture(autouse=True)
def kept_in_tmp_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work directories kept after a failure land in tmp_path, not in /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main(["deploy", "verify", *argv, "--json", "--timeout", "300"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    data: dict[str, Any] = json.loads(captured.out)
    return data


@pytest.mark.real_source
def test_two_real_instances_behind_haproxy(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    haproxy_program: Path,
) -> None:
    install = real_build()
    if install is None:
        pytest.skip(f"set {BUILD_ENV} to an install directory of a real Ollama build")
    monkeypatch.setattr(reporter, "quiet", True)
    out = render_seed(tmp_path, install, capsys)
    report = verify(capsys, str(out), "--haproxy", str(haproxy_program))
    assert [(r["model"], r["answered_by"]) for r in report["requests"]] == [
        ("tiny-a", ["86"]),
        ("tiny-b", ["50"]),
        ("build-tools-deploy-probe", ["86"]),
    ]


@pytest.fixture(scope="session")
def litellm_program() -> Path:
    value = os.environ.get(LITELLM_ENV)
    if not value:
        pytest.skip(
            f"set {LITELLM_ENV}=1 to install {LITELLM_PIN} (about 750 MB) into the test-tools "
            "cache and route through it, or to the litellm command of such a venv"
        )
    if value != "1":
        return Path(value)
    venv = default_cache_dir() / "test-tools" / f"litellm-{LITELLM_PIN.rsplit('=', 1)[1]}"
    program = venv / "bin" / "litellm"
    if not program.is_file():
        partial = venv.with_name(venv.name + ".partial")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(partial)], check=True)
        subprocess.run([str(partial / "bin" / "pip"), "install", "-q", LITELLM_PIN], check=True)
        partial.rename(venv)  # venvs record their path: only complete installs are renamed
    return program


@pytest.mark.toolchain
def test_litellm_reads_the_rendered_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], litellm_program: Path
) -> None:
    out = render_seed(tmp_path, None, capsys)
    result = subprocess.run(
        [str(litellm_program), "--config", str(out / "router" / "litellm.yaml"),
         "--validate_config"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "config OK (2 models)" in result.stdout + result.stderr


@pytest.mark.toolchain
def test_litellm_routes_each_model_to_its_group(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    litellm_program: Path,
) -> None:
    monkeypatch.setattr(reporter, "quiet", True)
    out = render_seed(tmp_path, real_build(), capsys)
    report = verify(capsys, str(out), "--router", "litellm", "--litellm", str(litellm_program))
    # LiteLLM has no default instance: only the routed models are sent.
    assert [(r["model"], r["answered_by"]) for r in report["requests"]] == [
        ("tiny-a", ["86"]),
        ("tiny-b", ["50"]),
    ]
