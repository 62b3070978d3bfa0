"""Opt-in: the built-in stock lists (registry.toml ``[[GN.stock]]``, what ``--arch preset`` uses
without a tree) equal the presets of every release tag of a real Ollama clone.

Set BUILD_TOOLS_OLLAMA_REPO to a clone of github.com/ollama/ollama. Each tag's presets file is
read with ``git show TAG:PATH`` (no checkout) and resolved by the same code a build uses on its
tree (``source.ollama_tree``), so a build with a tree and a plan without one agree.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from build_tools.generations import OllamaVersion, registry
from build_tools.source.ollama_tree import resolve_presets, stock_lists_of

from real_source import ollama_repo

pytestmark = [pytest.mark.real_source]

FIRST, LAST = OllamaVersion.parse("v0.5.8-rc0"), OllamaVersion.parse("v0.33.0-rc2")
MAJORS = (12, 13)  # the CUDA majors this tool installs toolkits for


def release_tags(repo: Path) -> list[tuple[OllamaVersion, str]]:
    listing = subprocess.run(
        ["git", "-C", str(repo), "tag", "--list", "v*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    release = re.compile(r"v\d+\.\d+\.\d+(-rc\d+)?")
    versions = [(OllamaVersion.parse(t), t) for t in listing if release.fullmatch(t)]
    return sorted((v, t) for v, t in versions if FIRST <= v <= LAST)


def test_built_in_stock_lists_equal_every_release_tags_presets() -> None:
    repo = ollama_repo()
    tags = release_tags(repo)
    assert any(tag == "v0.33.0-rc2" for _, tag in tags), "the clone lacks v0.33.0-rc2"
    wrong = []
    for version, tag in tags:
        generation = registry().for_version(version)
        presets_file = generation.tree.presets_file
        assert presets_file is not None, f"{generation.name} names no presets file"
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"{tag}:{presets_file}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode == 0, f"{tag} has no {presets_file}: {shown.stderr.strip()}"
        tree = stock_lists_of(generation, resolve_presets(json.loads(shown.stdout)))
        assert tree.get(12), f"{tag}: no CUDA 12 stock preset found in {presets_file}"
        for major in MAJORS:
            table = generation.stock_list(major, version)
            if table != tree.get(major):
                wrong.append(f"{tag} ({generation.name}) CUDA {major}: tree {tree.get(major)}, "
                             f"table {table}")  # fmt: skip
    assert len(tags) > 400
    assert not wrong, "\n".join(wrong)
