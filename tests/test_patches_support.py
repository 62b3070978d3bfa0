"""Helpers for the patch-series tests (no tests here): git trees, series dirs, fingerprints."""

from __future__ import annotations

import hashlib
import subprocess
import textwrap
from pathlib import Path

from build_tools.generations import OllamaVersion
from build_tools.patching import PREVIEW_CONTEXT, load_all_series, render_series

from ollama_fixture import write_fixture

GIT_ENV = {
    "GIT_AUTHOR_NAME": "patch-test",
    "GIT_AUTHOR_EMAIL": "patch-test@example.invalid",
    "GIT_COMMITTER_NAME": "patch-test",
    "GIT_COMMITTER_EMAIL": "patch-test@example.invalid",
    "GIT_AUTHOR_DATE": "2025-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2025-01-01T00:00:00Z",
    "PATH": "/usr/bin:/bin",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, env=GIT_ENV
    ).stdout


def commit_all(root: Path, message: str, tag: str | None = None) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    if tag is not None:
        git(root, "tag", "-a", tag, "-m", tag)


def make_repo(root: Path, files: dict[str, str], tag: str | None = "v0.1.0") -> Path:
    """A git repository holding ``files``, committed (and tagged)."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "initial", tag)
    return root


def write_series(root: Path, name: str, metadata: str, patches: dict[str, str]) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "series.toml").write_text(textwrap.dedent(metadata))
    for file_name, text in patches.items():
        (directory / file_name).write_text(text)
    return directory


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 and mode of every file and link under ``root`` except .git/, plus git's status."""
    prints: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == ".git" or path.is_dir():
            continue
        data = str(path.readlink()).encode() if path.is_symlink() else path.read_bytes()
        prints[str(relative)] = f"{hashlib.sha256(data).hexdigest()} {path.lstat().st_mode:o}"
    prints[":status"] = git(root, "status", "--porcelain", "--untracked-files=all")
    return prints


def preimage(patch_text: str, path: str) -> str:
    """The lines a patch expects in ``path`` (context and removed lines, hunk after hunk)."""
    lines: list[str] = []
    current = None
    for line in patch_text.splitlines():
        if line.startswith("+++ "):
            current = line[4:].removeprefix("b/")
        elif line.startswith("@@"):
            continue
        elif current == path and line[:1] in (" ", "-") and not line.startswith("--- "):
            lines.append(line[1:])
    return "\n".join(lines) + "\n"


def shipped_patch(series: str, tag: str | None = None) -> str:
    """The text of every patch of a shipped series that a tree at ``tag`` gets."""
    found = next(s for s in load_all_series() if s.name == series)
    version = OllamaVersion.parse(tag) if tag else None
    return "".join(p.text for p in render_series(found, PREVIEW_CONTEXT, version))


def hole_fixture(root: Path, tag: str = "v0.13.0") -> Path:
    """The G4 fixture whose ml/device.go has the hole in the shape the real one has (rebuilt
    from the shipped patch's own context lines), so that the g4 series applies to it. Still
    builds: main.go does not import ml."""
    write_fixture(root, generation="G4", tag=tag, validates_cuda=False)
    device = root / "ml" / "device.go"
    device.write_text(
        "package ml\n\ntype DeviceInfo struct{ Library string }\n\n"
        "func (d DeviceInfo) NeedsInitValidation() bool {\n"
        + preimage(shipped_patch("g4-cuda-init-validation"), "ml/device.go")
        + "func (d DeviceInfo) AddInitValidation(env map[string]string) {}\n"
    )
    git(root, "tag", "-d", tag)
    commit_all(root, "device.go as released", tag)
    return root


def reservation_fixture(root: Path, generation: str = "G4", tag: str = "v0.24.0") -> Path:
    """A fixture with the lines of the discovery file that gpu-reservation hooks into at
    ``tag`` (G3: discover/gpu.go, G4: discover/runner.go). For patch tests only: that file
    does not compile."""
    write_fixture(root, generation=generation, tag=tag)
    path, function = ("gpu.go", "GetGPUInfo") if generation == "G3" else ("runner.go", "GPUDevices")
    (root / "discover" / path).write_text(
        f"package discover\n\nfunc {function}() {{\n"
        + preimage(shipped_patch("gpu-reservation", tag), f"discover/{path}")
        + "}\n"
    )
    git(root, "tag", "-d", tag)
    commit_all(root, f"{path} as released", tag)
    return root
