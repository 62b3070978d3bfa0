"""Opt-in real-source tests: a local repository per Ollama release tag.

``BUILD_TOOLS_OLLAMA_REPO`` names a clone of github.com/ollama/ollama (bare or not). Clones made
with partial-clone filters, or mirrors that miss a few test-data blobs, cannot serve a fetch;
so each tag is re-committed from ``git archive`` into a throwaway repository (leaving out
missing blobs, which are never build inputs) with the tag's own commit time and name.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ENV = "BUILD_TOOLS_OLLAMA_REPO"


def ollama_repo() -> Path:
    value = os.environ.get(ENV)
    if not value:
        pytest.skip(f"set {ENV} to a clone of github.com/ollama/ollama to run real-source tests")
    return Path(value)


def _missing_paths(repo: Path, tag: str) -> list[str]:
    """Paths of ``tag``'s tree whose blobs this clone does not have."""
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--full-tree", tag],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries = [line.split("\t", 1) for line in listing.splitlines() if " blob " in line]
    shas = "\n".join(meta.split()[2] for meta, _ in entries) + "\n"
    checked = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-check"],
        input=shas,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [
        path for (_, path), line in zip(entries, checked, strict=True) if line.endswith(" missing")
    ]


def _archive(repo: Path, tag: str) -> bytes:
    pathspec = [f":(exclude){path}" for path in _missing_paths(repo, tag)]
    result = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", tag, "--", ".", *pathspec],
        capture_output=True,
        check=False,
    )
    # git still reports an excluded missing blob but then exits 0
    # (docs/build-notes.md#git-archive-fails-on-a-missing-blob).
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode(errors="replace"))
    return result.stdout


def materialise_tag(repo: Path, tag: str, dest: Path) -> Path:
    """A git repository at ``dest`` whose single commit holds ``tag``'s tree, tagged ``tag``."""
    if (dest / ".git").exists():
        return dest
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(_archive(repo, tag)), mode="r:") as archive:
        archive.extractall(dest, filter="data")
    when = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%cI", tag],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {
        "PATH": os.environ["PATH"],
        "GIT_AUTHOR_NAME": "real-source",
        "GIT_AUTHOR_EMAIL": "real-source@example.invalid",
        "GIT_COMMITTER_NAME": "real-source",
        "GIT_COMMITTER_EMAIL": "real-source@example.invalid",
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", tag], ["tag", tag]):
        subprocess.run(["git", "-C", str(dest), *args], check=True, capture_output=True, env=env)
    return dest


def ninja(build_dir: Path, *targets: str) -> None:
    """Build only ``targets`` of a configured tree: a few objects, not hours of CUDA."""
    subprocess.run(["ninja", "-C", str(build_dir), *targets], check=True, capture_output=True)


def ninja_targets(build_dir: Path, suffixes: tuple[str, ...]) -> list[str]:
    """The targets of a configured tree whose path ends with one of ``suffixes``."""
    listing = subprocess.run(
        ["ninja", "-C", str(build_dir), "-t", "targets", "all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    targets = [line.split(":")[0] for line in listing.splitlines()]
    return [t for t in targets if t.endswith(suffixes)]
