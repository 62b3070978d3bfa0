"""`verify-reproducible`: the comparison, and one real pair of fixture builds.

The real test builds the miniature G4 tree twice from a profile (about 50 s each on two
cores, most of it gzip over cuBLAS), with GITHUB_ACTIONS=true, so it also checks the CI log
folding and the step summary of a real build.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.pipeline.reproducible import (
    Comparison,
    FileFacts,
    compare_trees,
    snapshot_tree,
)
from build_tools.pipeline.run import BuildResult
from build_tools.toolkit.pathmap import Reproducibility

from boxes import SEED_BOX, write_json_inventory
from ollama_fixture import write_fixture
from plan_values import generation, make_build_plan, make_checkout, make_options, make_toolkit


def test_snapshot_and_compare(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "lib").mkdir(parents=True)
        (root / "lib" / "same.so").write_bytes(b"same")
        (root / "lib" / "link.so").symlink_to("same.so")
    (a / "lib" / "only-a").write_text("x")
    (a / "bin").mkdir()
    (a / "bin" / "ollama").write_bytes(b"one")
    (b / "bin").mkdir()
    (b / "bin" / "ollama").write_bytes(b"two!")
    facts_a, facts_b = snapshot_tree(a), snapshot_tree(b)
    assert facts_a["lib/link.so"].link == "same.so"
    differences = compare_trees("staging", facts_a, facts_b)
    assert [(d.path, d.b is None) for d in differences] == [
        ("bin/ollama", False),
        ("lib/only-a", True),
    ]
    ollama = differences[0]
    assert (ollama.a, ollama.b) == (
        FileFacts(size=3, sha256=facts_a["bin/ollama"].sha256),
        FileFacts(size=4, sha256=facts_b["bin/ollama"].sha256),
    )
    assert snapshot_tree(tmp_path / "missing") == {}


def test_a_build_that_was_not_path_independent_is_named_with_its_reason(tmp_path: Path) -> None:
    """Whether the work directories' paths can explain a difference: the comparison names a
    build that was not path-independent with its reason (verify-reproducible's hint says it),
    and its JSON carries each build's record."""
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    plan = make_build_plan(
        make_checkout(source, "v0.24.0"),
        generation("G4"),
        toolkit=make_toolkit(),
        options=make_options(tmp_path / "a"),
    )
    refused = Reproducibility(
        path_independent=False,
        method="nvcc-launcher",
        reason="this machine refuses an unprivileged mount namespace",
    )
    held = Reproducibility(path_independent=True, method="nvcc-launcher", canonical_path="/c")
    builds = [
        BuildResult(plan=replace(plan, reproducibility=record), complete=True, stages=())
        for record in (held, refused)
    ]
    comparison = Comparison(root=tmp_path, builds=(builds[0], builds[1]), differences=(), counts={})
    assert comparison.not_path_independent() == refused.reason
    recorded = [b["reproducibility"] for b in comparison.to_json()["builds"]]
    assert [r["path_independent"] for r in recorded] == [True, False]
    both_held = replace(comparison, builds=(builds[0], builds[0]))
    assert both_held.not_path_independent() is None


def test_dry_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "verify-reproducible", "--arch", "86"]) == 2
    assert "a dry run cannot" in capsys.readouterr().err


@pytest.mark.toolchain
@pytest.mark.usefixtures("cuda12_toolkit")
def test_fixture_profile_builds_byte_identical_on_github_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fixture(tmp_path / "ollama-g4", generation="G4", tag="v0.24.0")
    write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    (tmp_path / "ollama-build.toml").write_text(
        "[profiles.fixture]\n"
        f'source = "{source}"\nref = "v0.24.0"\ninventory = "seed.json"\n'
        'cuda = "12.4"\nexclude-arch = ["50"]\n'
    )
    summary = tmp_path / "step-summary.md"
    monkeypatch.chdir(tmp_path)
    for name in ("CUDA_HOME", "CUDA_PATH", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    code = main(["verify-reproducible", "--profile", "fixture", "--workdir", "repro", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)

    # Folded logs: one group per build step, closed before the step's result line.
    lines = captured.err.splitlines()
    groups = [line for line in lines if line.startswith("::group::")]
    assert "::group::Build CUDA backend cuda_v12" in groups
    assert len(groups) == lines.count("::endgroup::") >= 2 * 8  # two builds, 8+ steps each
    # A step summary per build: artifact names, sizes and sha256, and the archs.
    text = summary.read_text()
    assert text.count("## Ollama 0.24.0: CUDA 12.4, `86` (profile `fixture`)") == 2
    tarball = "ollama-0.24.0-linux-amd64-cuda12-sm86-ptx86.tar.gz"
    assert re.search(rf"\| `{re.escape(tarball)}` \| [0-9.]+ MiB \| `[0-9a-f]{{64}}` \|", text)
    assert "| 86 | yes | yes |" in text
    assert "| `exclude-arch` | 50 | profile |" in text

    # Identical artifacts and staging trees, from two fresh work directories.
    assert report["identical"] is True, json.dumps(report["differences"], indent=2)
    assert report["differences"] == []
    assert report["compared"]["artifact"] == 3  # tarball, manifest, SHA256SUMS
    assert report["compared"]["staging"] >= 10
    assert report["compared"]["object"] == 1  # kernel.cu.o: a PID stripped from the library
    assert report["source_date_epoch"] == 1_735_689_600  # the fixture's commit time
    workdirs = [Path(b["workdir"]) for b in report["builds"]]
    assert [w.name for w in workdirs] == ["a", "b"]
    assert workdirs[0].parent != workdirs[1].parent  # paths differ beyond the last component
    assert list((tmp_path / "repro").iterdir()) == []  # identical: both work dirs removed
