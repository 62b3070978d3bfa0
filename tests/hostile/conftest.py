"""Isolation of every hostile-input case: no network, no GPU, no user cache, no stray settings.

* ``OLLAMA_*``, ``CUDA*``, ``BUILD_TOOLS_*``, ``GITHUB_*`` and ``SOURCE_DATE_EPOCH`` are removed;
  a case sets what it needs.
* The user cache is a fresh ``XDG_CACHE_HOME``; temporary files go to a fresh ``TMPDIR`` that
  cases inspect for leftovers.
* NVML is unloadable (in this process and in child processes), and PATH holds no real ``nvcc``
  or ``nvidia-smi``: first on it is a directory with an ``nvidia-smi`` that reports a machine
  without driver and records each call.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import good_json, write_program
from fake_nvml import make_fake_pynvml
from ollama_fixture import write_fixture

NO_DRIVER_SMI = """\
import sys
with open({marker!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
print("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
sys.exit(9)
"""

GOOD_NVCC = """\
import sys
arg = sys.argv[1] if len(sys.argv) > 1 else ""
if arg == "--version":
    print("nvcc: NVIDIA (R) Cuda compiler driver")
    print("Cuda compilation tools, release 12.4, V12.4.131")
elif arg == "--list-gpu-code":
    print(" ".join(f"sm_{a}" for a in (50, 52, 60, 61, 70, 75, 80, 86, 89, 90)))
elif arg == "--list-gpu-arch":
    print(" ".join(f"compute_{a}" for a in (50, 52, 60, 61, 70, 75, 80, 86, 89, 90)))
else:
    sys.exit(1)
"""


def _sanitised_path(fake_bin: Path, path: str) -> str:
    keep = []
    for entry in path.split(os.pathsep):
        if not entry:
            continue
        if any(shutil.which(tool, path=entry) for tool in ("nvcc", "nvidia-smi")):
            continue
        keep.append(entry)
    return os.pathsep.join([str(fake_bin), *keep])


@dataclass
class Box:
    """The files every case may use, all under the case's own tmp_path."""

    root: Path
    tmp: Path  # TMPDIR of this case
    fake_bin: Path  # first on PATH
    smi_log: Path  # one line per nvidia-smi call
    no_nvml: Path  # on PYTHONPATH of child processes: a pynvml that cannot load
    inventory: Path  # a valid JSON inventory with one RTX 3060 (cc 8.6)
    toolkit: Path  # a fake CUDA 12.4 toolkit root whose bin/nvcc answers the probes

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.root / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        return path

    def nvidia_smi(self, body: str) -> Path:
        """Replace the fake nvidia-smi with ``body`` (Python); it still logs each call."""
        prelude = (
            "import sys\n"
            f"with open({str(self.smi_log)!r}, 'a') as _log:\n"
            "    _log.write(' '.join(sys.argv[1:]) + '\\n')\n"
        )
        return write_program(self.fake_bin / "nvidia-smi", prelude + body)

    def smi_called(self) -> bool:
        return self.smi_log.exists() and self.smi_log.read_text().strip() != ""

    def toolkit_with(self, body: str, *, name: str = "tk-broken", mode: int = 0o755) -> Path:
        root = self.root / name
        write_program(root / "bin" / "nvcc", body, mode=mode)
        return root

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.tmp.iterdir())


DROPPED_PREFIXES = ("OLLAMA_", "CUDA", "BUILD_TOOLS_", "GITHUB_", "NVIDIA_")
DROPPED_NAMES = ("SOURCE_DATE_EPOCH", "CI", "COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")


def build_box(root: Path) -> Box:
    """The files of one case under ``root``: TMPDIR, the fake nvidia-smi, the NVML switch,
    a valid inventory and a fake toolkit."""
    tmp = root / "tmp"
    tmp.mkdir(parents=True)
    fake_bin = root / "fake-bin"
    fake_bin.mkdir()
    smi_log = root / "nvidia-smi.calls"
    write_program(fake_bin / "nvidia-smi", NO_DRIVER_SMI.format(marker=str(smi_log)))
    no_nvml = root / "no-nvml"
    no_nvml.mkdir()
    (no_nvml / "pynvml.py").write_text(
        'raise ImportError("NVML switched off by the hostile-input suite")\n'
    )
    inventory = root / "files" / "box.json"
    inventory.parent.mkdir()
    inventory.write_text(json.dumps(good_json()))
    toolkit = root / "tk"
    write_program(toolkit / "bin" / "nvcc", GOOD_NVCC)
    return Box(
        root=root,
        tmp=tmp,
        fake_bin=fake_bin,
        smi_log=smi_log,
        no_nvml=no_nvml,
        inventory=inventory,
        toolkit=toolkit,
    )


def clean_environment(box: Box, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without the variables that could change
    a case, pointed at the box: TMPDIR, XDG_CACHE_HOME, PATH, PYTHONPATH."""
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if not key.startswith(DROPPED_PREFIXES) and key not in DROPPED_NAMES
    }
    env["TMPDIR"] = str(box.tmp)
    env["XDG_CACHE_HOME"] = str(box.root / "xdg-cache")
    env["PATH"] = _sanitised_path(box.fake_bin, env.get("PATH", ""))
    python_path = [str(box.no_nvml), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in python_path if p)
    return env


@pytest.fixture(autouse=True)
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Box:
    made = build_box(tmp_path)
    env = clean_environment(made)
    for key in list(os.environ):
        if key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(tempfile, "tempdir", str(made.tmp))
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml([], uuids=[], missing_library=True))
    return made


@pytest.fixture(scope="session")
def g4_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature G4 Ollama tree (git repository tagged v0.24.0); cases never change it."""
    return write_fixture(tmp_path_factory.mktemp("hostile-tree") / "ollama", tag="v0.24.0")


@pytest.fixture
def dry_build(box: Box, g4_tree: Path) -> list[str]:
    """argv of a dry-run build that succeeds offline: cases add one hostile option to it."""
    return [
        "--dry-run",
        "build",
        "--source-dir",
        str(g4_tree),
        "--inventory",
        str(box.inventory),
        "--cuda-home",
        str(box.toolkit),
        "--workdir",
        str(box.root / "work"),
        "--dist-dir",
        str(box.root / "dist"),
    ]
