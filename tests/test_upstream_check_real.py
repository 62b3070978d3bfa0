"""Opt-in: `upstream check` against a real Ollama clone (BUILD_TOOLS_OLLAMA_REPO).

The registry knows the clone's newest tags, so the check starts earlier with ``--since``, as a
maintainer would to see what a registry that stopped at that tag would have been told: every
release tag after it, each the generation its tag range names, with the built-in stock lists
and the shipped patch series applying where they are meant to.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.generations import OllamaVersion, registry

from real_source import ollama_repo

pytestmark = [pytest.mark.real_source]

RELEASE = re.compile(r"v\d+\.\d+\.\d+(-rc\d+)?\Z")


def release_tags(repo: Path) -> list[OllamaVersion]:
    listing = subprocess.run(
        ["git", "-C", str(repo), "tag", "--list", "v*"], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(OllamaVersion.parse(t) for t in listing if RELEASE.fullmatch(t))


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["upstream", "check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_registry_knows_the_clones_newest_tag(capsys: pytest.CaptureFixture[str]) -> None:
    repo = ollama_repo()
    tags = release_tags(repo)
    known = registry().known_through()
    code, report = check(capsys, "--source", str(repo))
    assert code == 0
    assert report["newest_tag"] == str(tags[-1])
    assert [t["tag"] for t in report["tags"]] == [str(t) for t in tags if t > known]


def test_every_tag_after_since_is_reported_as_the_registry_knows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = ollama_repo()
    since = OllamaVersion.parse("v0.24.0")  # G4's last releases, then all of G5
    code, report = check(capsys, "--source", str(repo), "--since", str(since))
    reported = {t["tag"]: t for t in report["tags"]}
    expected = [str(t) for t in release_tags(repo) if t > since]
    assert list(reported) == expected
    assert "v0.33.0-rc2" in reported, "the clone lacks v0.33.0-rc2"
    for name, tag in reported.items():
        generation = registry().for_version(OllamaVersion.parse(name))
        assert tag["generation"] == generation.name, name
        assert tag["recognised"], name
        assert tag["stock_lists"]["changes"] == [], name
        assert tag["surprises"] == [], name
    assert reported["v0.25.0-rc0"]["generation"] != reported["v0.30.0-rc0"]["generation"]
    reservation = {s["series"]: s for s in reported["v0.25.0-rc0"]["series"]}["gpu-reservation"]
    assert reservation["state"] == "applies"
    assert reported["v0.33.0-rc2"]["llama_cpp"] == "b10488"
    assert reported["v0.32.2"]["llama_cpp"] != "b10488"
    # Every G5 tag's shipped libraries are ones its programs link (no surprise above), and the
    # newest adds the programs' impl libraries.
    assert reported["v0.30.0-rc0"]["server_libraries"] == [
        "ggml-base", "ggml", "llama", "mtmd", "llama-common"
    ]  # fmt: skip
    assert reported["v0.33.0-rc2"]["server_libraries"][-2:] == [
        "llama-server-impl", "llama-quantize-impl"
    ]  # fmt: skip
    assert code == 0
