"""Shared fixtures: GPU boxes on disk, a fake nvidia-smi on PATH, NVML switched off."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from boxes import SEED_BOX, smi_csv
from fake_nvml import make_fake_pynvml

# Real CUDA toolkits (installed once per machine into the user cache) for end-to-end tests.
pytest_plugins = ["toolkit_fixtures", "deploy_support"]

# Fixtures that download or build a toolchain (a CUDA toolkit, a Go program, HAProxy from
# Debian packages): every test that uses one, directly or through another fixture, is in the
# `toolchain` tier, so that `pytest -m "not toolchain and not processes"` stays offline and fast
# on a fresh machine.
TOOLCHAIN_FIXTURES = frozenset(
    {"cuda12_toolkit", "cuda13_toolkit", "actionlint", "haproxy_program"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TOOLCHAIN_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.toolchain)


# The caller's shell must not change what a test sees: Ollama's own settings, a CUDA toolkit
# or GPU selection, a fixed package time, CI detection, tracebacks. BUILD_TOOLS_CACHE_DIR
# stays (it names where the real toolkits are cached) and so do the opt-in switches.
AMBIENT = (
    "CUDA_HOME",
    "CUDA_PATH",
    "CUDA_VISIBLE_DEVICES",
    "SOURCE_DATE_EPOCH",
    "BUILD_TOOLS_DEBUG",
    "BUILD_TOOLS_PROBE_TIMEOUT",
)
AMBIENT_PREFIXES = ("OLLAMA_", "GITHUB_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable in AMBIENT or variable.startswith(AMBIENT_PREFIXES):
            monkeypatch.delenv(variable)


@pytest.fixture(autouse=True)
def scratch_working_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test runs in an empty directory of its own: a complete build packages into ./dist
    by default, and a test run must never add packages or SHA256SUMS lines to the checkout."""
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make NVML unloadable, as on a machine without the NVIDIA driver library."""
    fake = make_fake_pynvml([], uuids=[], missing_library=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake)


@pytest.fixture
def fake_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_nvml: None) -> Path:
    """An `nvidia-smi` executable first on PATH that prints the seed box in real formats."""
    del no_nvml
    bindir = tmp_path / "fake-bin"
    bindir.mkdir()
    script = bindir / "nvidia-smi"
    query_output = smi_csv(SEED_BOX, header=False, full=True)
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""\
            import sys
            args = sys.argv[1:]
            if not args:
                print("+" + "-" * 77 + "+")
                print("| NVIDIA-SMI 550.54.14    Driver Version: 550.54.14    "
                      "CUDA Version: 12.4     |")
                sys.exit(0)
            if args[0].startswith("--query-gpu=") and "noheader" in args[1]:
                sys.stdout.write({query_output!r})
                sys.exit(0)
            print("unexpected arguments", args, file=sys.stderr)
            sys.exit(2)
            """
        )
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return script


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_nvml: None) -> None:
    """A PATH with no nvidia-smi at all."""
    del no_nvml
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
