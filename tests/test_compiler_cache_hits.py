"""ccache (the pinned PyPI build) hits across work directories under different parents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main

from boxes import SEED_BOX, write_json_inventory
from ollama_fixture import write_fixture
from summaries import artifact

pytestmark = pytest.mark.toolchain


def build(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary: dict[str, Any] = json.loads(captured.out)
    return summary, captured.err


@pytest.mark.usefixtures("cuda12_toolkit")
def test_a_fresh_work_directory_elsewhere_compiles_everything_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "CUDA_HOME",
        "CUDA_PATH",
        "CCACHE_BASEDIR",
        "CCACHE_NOHASHDIR",
        "CCACHE_CONFIGPATH",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)

    def build_in(workdir: Path, cache: str = "ccache") -> tuple[dict[str, Any], str]:
        return build(
            capsys, "build", "--source", str(source), "--ref", "v0.24.0",
            "--workdir", str(workdir), "--inventory", str(inventory), "--exclude-arch", "50",
            "--cuda", "12.4", "--compiler-cache", cache,
            "--dist-dir", str(workdir.parent / "dist"),
        )  # fmt: skip

    first, _ = build_in(tmp_path / "one" / "work")
    cache = first["compiler_cache"]
    assert cache["program"] == "ccache"
    # ggml-base, two CPU variants, the CUDA kernel at least; ggml-base is compiled in both
    # build trees, so even the first build can hit once.
    assert cache["build"]["misses"] >= 4
    compiled = cache["build"]["hits"] + cache["build"]["misses"]

    second, err = build_in(tmp_path / "elsewhere" / "deeper" / "work")
    assert second["compiler_cache"]["build"] == {"hits": compiled, "misses": 0, "hit_rate": 1.0}
    assert f"ccache: {compiled} compilations from the cache, 0 compiled (100% hit rate)" in err
    # The same device code came out of the cache.
    assert [a["found"] for a in second["audit"]] == [a["found"] for a in first["audit"]]

    # And the same bytes as without a cache: ccache hands the compilers paths relative to the
    # directory they compile in, which the prefix maps cover too, so __FILE__ (host and device
    # code of the fixture) reads ./ggml/... either way.
    plain, _ = build_in(tmp_path / "plain" / "work", cache="none")
    assert "compiler_cache" not in plain or plain["compiler_cache"] is None
    digests = {artifact(summary, "tar")["sha256"] for summary in (plain, first, second)}
    assert len(digests) == 1, digests


@pytest.mark.usefixtures("cuda12_toolkit")
def test_sccache_fills_a_fresh_work_directory_at_the_same_path_from_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # sccache keys the -ffile-prefix-map argument as written, so it hits when the work
    # directory has the same path (a CI runner's, the default <cache>/work), not elsewhere.
    for name in ("CUDA_HOME", "CUDA_PATH", "SCCACHE_BASEDIRS", "SCCACHE_CONF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCCACHE_DIR", str(tmp_path / "sccache"))
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    workdir = tmp_path / "w"
    args = [
        "build", "--source", str(source), "--ref", "v0.24.0", "--workdir", str(workdir),
        "--inventory", str(inventory), "--exclude-arch", "50", "--cuda", "12.4",
        "--compiler-cache", "sccache", "--dist-dir", str(tmp_path / "dist"),
    ]  # fmt: skip
    first, err = build(capsys, *args)
    assert first["compiler_cache"]["program"] == "sccache"
    # sccache runs nvcc's steps itself: no path-map launcher, and the build says so.
    assert "not path-independent: sccache runs nvcc's steps itself" in err
    assert first["compiler_cache"]["build"]["misses"] >= 4
    shutil.rmtree(workdir)
    second, _ = build(capsys, *args)
    counted = second["compiler_cache"]["build"]
    assert counted["misses"] == 0
    assert counted["hits"] >= first["compiler_cache"]["build"]["misses"]
    assert not (workdir / "sccache.sock").exists()  # the build's own server was stopped
