"""The toolkit cache (`<cache>/toolkits/<version>-<provider>/build-tools-toolkit.json`) with
broken entries, and cache directories that cannot be used.

A broken entry never crashes `toolkit list` or `toolkit remove`: list skips it (saying so),
remove deletes it. A cache path that is not a usable directory is exit 2 with one line.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Box
from .support import assert_error_code, assert_ok, run_main, snapshot

MANIFEST: dict[str, Any] = {
    "schema": 1,
    "version": "12.4",
    "full_version": "12.4.131",
    "provider": "debian",
    "sass_archs": ["50", "86", "90"],
    "ptx_archs": ["50", "86", "90"],
    "packages": ["nvidia-cuda-toolkit_12.4.131"],
    "installed_at": "2026-01-01T00:00:00+00:00",
}


def _manifest(**changes: Any) -> bytes:
    data = copy.deepcopy(MANIFEST)
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data).encode()


# (case id, manifest bytes)
BROKEN_MANIFESTS: list[tuple[str, bytes]] = [
    ("missing-version", _manifest(version=KeyError)),
    ("missing-full-version", _manifest(full_version=KeyError)),
    ("missing-sass-archs", _manifest(sass_archs=KeyError)),
    ("missing-ptx-archs", _manifest(ptx_archs=KeyError)),
    ("version-not-numeric", _manifest(version="twelve")),
    ("version-one-part", _manifest(version="12")),
    ("sass-archs-number", _manifest(sass_archs=5)),
    ("sass-archs-null", _manifest(sass_archs=None)),
    ("packages-number", _manifest(packages=5)),
    ("manifest-truncated", _manifest()[:40]),
    ("manifest-non-utf8", b"\xff\xfe\x00\x01"),
    ("manifest-list", b"[1, 2, 3]"),
    ("manifest-deeply-nested", b"[" * 100_000 + b"]" * 100_000),
]


def _install(cache: Path, manifest: bytes, name: str = "12.4-debian") -> Path:
    root = cache / "toolkits" / name
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "nvcc").write_text("#!/bin/sh\n")
    (root / "build-tools-toolkit.json").write_bytes(manifest)
    return root


def _good(cache: Path) -> Path:
    data = _manifest(version="13.0", full_version="13.0.88", provider="pypi")
    return _install(cache, data, "13.0-pypi")


@pytest.mark.parametrize("manifest", [pytest.param(m, id=n) for n, m in BROKEN_MANIFESTS])
@pytest.mark.parametrize("json_flag", [False, True], ids=["table", "json"])
def test_list_with_broken_manifest(
    manifest: bytes, json_flag: bool, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = box.root / "cache"
    _install(cache, manifest)
    _good(cache)
    argv = ["toolkit", "list", "--cache-dir", str(cache)] + (["--json"] if json_flag else [])
    outcome = run_main(argv, capsys)
    assert_ok(outcome, json_out=json_flag)
    if json_flag:
        listed = [t["version"] for t in json.loads(outcome.out)["toolkits"]]
        assert listed == ["13.0"], "the intact toolkit is still listed"


@pytest.mark.parametrize("manifest", [pytest.param(m, id=n) for n, m in BROKEN_MANIFESTS])
def test_remove_with_broken_manifest(
    manifest: bytes, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """`toolkit remove --cuda 13.0` must work whatever else is broken in the cache."""
    cache = box.root / "cache"
    _install(cache, manifest)
    good = _good(cache)
    outcome = run_main(["toolkit", "remove", "--cuda", "13.0", "--cache-dir", str(cache)], capsys)
    assert_ok(outcome)
    assert not good.exists()


@pytest.mark.parametrize(
    "manifest",
    [pytest.param(m, id=n) for n, m in BROKEN_MANIFESTS if not n.startswith("version")],
)
def test_remove_the_broken_install_itself(
    manifest: bytes, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """The broken 12.4 entry is what the user wants gone: remove deletes it."""
    cache = box.root / "cache"
    broken = _install(cache, manifest)
    outcome = run_main(["toolkit", "remove", "--cuda", "12.4", "--cache-dir", str(cache)], capsys)
    assert_ok(outcome)
    assert not broken.exists()


def _cache_path(kind: str, box: Box) -> Path:
    if kind == "is-a-file":
        return box.file("cache-file", "x")
    if kind == "under-a-file":
        return box.file("cache-file", "x") / "cache"
    if kind == "toolkits-is-a-file":
        cache = box.root / "cache"
        cache.mkdir()
        (cache / "toolkits").write_text("x")
        return cache
    if kind == "read-only":
        return _read_only(box)
    raise AssertionError(kind)


def _read_only(box: Box) -> Path:
    path = box.root / "ro-cache"
    path.mkdir()
    _good(path)
    for p in [path, *path.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555)
    probe = path / "probe"
    try:
        probe.mkdir()
    except PermissionError:
        return path
    probe.rmdir()  # running as root: permissions do not stop us; use a read-only mount
    return Path("/sys/ollama-build-tools-hostile-cache")


@pytest.mark.parametrize("kind", ["is-a-file", "under-a-file", "toolkits-is-a-file", "read-only"])
@pytest.mark.parametrize(
    "argv",
    [
        ["toolkit", "list"],
        ["toolkit", "remove", "--cuda", "13.0"],
        ["toolkit", "remove", "--cuda", "13.0", "--keep-downloads"],
    ],
    ids=["list", "remove", "remove-keep-downloads"],
)
def test_unusable_cache_dir(
    kind: str, argv: list[str], box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = _cache_path(kind, box)
    if kind == "read-only" and argv[1] == "list":
        pytest.skip("listing a read-only cache is fine")
    before = snapshot(box.root)
    outcome = run_main([*argv, "--cache-dir", str(cache)], capsys)
    assert_error_code(outcome, 2)
    assert snapshot(box.root) == before


def test_cache_dir_from_environment_is_a_file(
    box: Box, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUILD_TOOLS_CACHE_DIR", str(box.file("cache-file", "x")))
    assert_error_code(run_main(["toolkit", "remove", "--cuda", "12.4"], capsys), 2)


def test_lock_file_is_a_directory(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    cache = box.root / "cache"
    _good(cache)
    (cache / "toolkits" / ".lock").mkdir()
    outcome = run_main(["toolkit", "remove", "--cuda", "13.0", "--cache-dir", str(cache)], capsys)
    assert_error_code(outcome, 6)


def test_entry_is_a_dangling_symlink(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    cache = box.root / "cache"
    _good(cache)
    (cache / "toolkits" / "12.4-debian").symlink_to(cache / "nowhere")
    assert_ok(run_main(["toolkit", "list", "--cache-dir", str(cache)], capsys))
    outcome = run_main(["toolkit", "remove", "--cuda", "13.0", "--cache-dir", str(cache)], capsys)
    assert_ok(outcome)


@pytest.mark.parametrize("value", ["", "abc", "-12", "12.4.1.2.3.4.5x"])
def test_remove_bad_version(value: str, box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    cache = box.root / "cache"
    _good(cache)
    outcome = run_main(["toolkit", "remove", "--cuda", value, "--cache-dir", str(cache)], capsys)
    assert_error_code(outcome, 2)
