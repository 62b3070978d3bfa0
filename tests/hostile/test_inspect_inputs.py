"""`inspect PATH`: libraries, install directories and tarballs that are broken on purpose.

An unreadable library, archive or ELF is exit 8 with one line; a path that does not exist is
a usage error (2). A truncated or empty archive is never "an empty install": it is exit 8.
Cases that can hang (FIFOs) or allocate without bound run in child processes
(test_processes.py).
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Box
from .support import (
    assert_clean_error,
    assert_error_code,
    assert_ok,
    elf_file,
    fatbin_entry,
    fatbin_section,
    gz,
    run_main,
    tar_bytes,
    tar_member,
)

CUDA_LIB = "lib/ollama/cuda_v12/libggml-cuda.so"
VALID_FATBIN = fatbin_section([fatbin_entry(kind=2, arch=86), fatbin_entry(kind=1, arch=86)])
VALID_LIB = elf_file({".nv_fatbin": VALID_FATBIN})

# (case id, bytes of a file named libggml-cuda.so, expected exit code)
LIBRARY_CASES: list[tuple[str, bytes, int]] = [
    ("valid", VALID_LIB, 0),
    ("no-fatbin-section", elf_file({".text": b"\x90" * 32}), 0),
    ("empty-fatbin-section", elf_file({".nv_fatbin": b""}), 0),
    ("zero-filled-fatbin", elf_file({".nv_fatbin": b"\0" * 64}), 0),
    ("unknown-entry-kind", elf_file({".nv_fatbin": fatbin_section([fatbin_entry(kind=7)])}), 0),
    ("empty-file", b"", 8),
    ("text-file", b"hello, I am not a library\n", 8),
    ("pseudo-random", bytes((i * 7919 + 13) % 251 for i in range(4096)), 8),
    ("elf-magic-only", b"\x7fELF", 8),
    ("elf-header-only", elf_file({".nv_fatbin": VALID_FATBIN}, truncate=64), 8),
    ("elf-truncated-in-sections", VALID_LIB[: len(VALID_LIB) - 100], 8),
    ("elf-section-table-past-eof", elf_file({".nv_fatbin": VALID_FATBIN}, e_shoff=10**9), 8),
    ("elf-section-table-offset-huge", elf_file({".nv_fatbin": VALID_FATBIN}, e_shoff=2**63), 8),
    ("elf-section-table-in-header", elf_file({".nv_fatbin": VALID_FATBIN}, e_shoff=8), 8),
    ("elf-section-count-huge", elf_file({".nv_fatbin": VALID_FATBIN}, e_shnum=65535), 8),
    ("elf-strtab-index-out-of-range", elf_file({".nv_fatbin": VALID_FATBIN}, e_shstrndx=200), 8),
    ("elf-section-entry-size-zero", elf_file({".nv_fatbin": VALID_FATBIN}, e_shentsize=0), 8),
    ("elf-section-entry-size-odd", elf_file({".nv_fatbin": VALID_FATBIN}, e_shentsize=3), 8),
    ("elf-class-32-with-64-layout", elf_file({".nv_fatbin": VALID_FATBIN}, elf_class=1), 8),
    ("elf-class-invalid", elf_file({".nv_fatbin": VALID_FATBIN}, elf_class=7), 8),
    ("elf-name-offset-out-of-range",
     elf_file({".nv_fatbin": VALID_FATBIN}, name_offsets={".nv_fatbin": 10**6}), 8),
    ("elf-strtab-past-eof",
     elf_file({".nv_fatbin": VALID_FATBIN}, section_offsets={".shstrtab": 10**9}), 8),
    ("fatbin-section-past-eof",
     elf_file({".nv_fatbin": VALID_FATBIN}, section_offsets={".nv_fatbin": 10**9}), 8),
    ("fatbin-section-size-huge",
     elf_file({".nv_fatbin": VALID_FATBIN}, section_sizes={".nv_fatbin": 2**62}), 8),
    ("fatbin-garbage", elf_file({".nv_fatbin": b"\x01" * 64}), 8),
    ("fatbin-declares-too-much",
     elf_file({".nv_fatbin": fatbin_section([fatbin_entry()], declared=10**9)}), 8),
    ("fatbin-header-size-too-small",
     elf_file({".nv_fatbin": fatbin_section([fatbin_entry()], header_size=4)}), 8),
    ("fatbin-entry-header-size-zero",
     elf_file({".nv_fatbin": fatbin_section([fatbin_entry(header_size=0)])}), 8),
    ("fatbin-entry-payload-huge",
     elf_file({".nv_fatbin": fatbin_section([fatbin_entry(payload_size=2**63)])}), 8),
    ("fatbin-entry-truncated",
     elf_file({".nv_fatbin": fatbin_section([fatbin_entry()[:40]])}), 8),
    ("fatbin-arch-zero", elf_file({".nv_fatbin": fatbin_section([fatbin_entry(arch=0)])}), 8),
    ("fatbin-arch-huge",
     elf_file({".nv_fatbin": fatbin_section([fatbin_entry(arch=2**32 - 1)])}), 8),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, c, id=n) for n, d, c in LIBRARY_CASES]
)
def test_library_file(
    data: bytes, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    path = box.file("libggml-cuda.so", data)
    outcome = run_main(["inspect", str(path), "--inventory", str(box.inventory), "--json"], capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_clean_error(outcome, expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [pytest.param(d, c, id=n) for n, d, c in LIBRARY_CASES if n.startswith(("elf", "fatbin"))],
)
def test_library_inside_install(
    data: bytes, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same libraries found in an install directory: same verdict."""
    root = box.root / "install"
    (root / CUDA_LIB).parent.mkdir(parents=True)
    (root / CUDA_LIB).write_bytes(data)
    (root / "bin").mkdir()
    (root / "bin" / "ollama").write_bytes(b"#!/bin/sh\n")
    outcome = run_main(["inspect", str(root), "--json"], capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_clean_error(outcome, expected)


# --- install directories ---------------------------------------------------------------------


def _dir(box: Box, layout: Callable[[Path], None]) -> Path:
    root = box.root / "install"
    root.mkdir()
    layout(root)
    return root


def _write(root: Path, relative: str, data: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _valid(root: Path) -> None:
    _write(root, "bin/ollama", b"#!/bin/sh\n")
    _write(root, CUDA_LIB, VALID_LIB)


def _loop_lib_dir(root: Path) -> None:
    _write(root, "bin/ollama", b"#!/bin/sh\n")
    (root / "lib").mkdir()
    (root / "lib" / "ollama").symlink_to(root / "lib" / "ollama")


def _loop_cuda_dir(root: Path) -> None:
    _valid(root)
    (root / "lib/ollama/cuda_v13").symlink_to(root / "lib/ollama")


def _dangling_library(root: Path) -> None:
    _write(root, "bin/ollama", b"#!/bin/sh\n")
    (root / CUDA_LIB).parent.mkdir(parents=True)
    (root / CUDA_LIB).symlink_to(root / "nowhere.so")


def _library_links_to_dev_zero(root: Path) -> None:
    _write(root, "bin/ollama", b"#!/bin/sh\n")
    (root / CUDA_LIB).parent.mkdir(parents=True)
    (root / CUDA_LIB).symlink_to("/dev/zero")


def _install_with_library(root: Path, library: bytes) -> None:
    _write(root, "bin/ollama", b"x")
    _write(root, CUDA_LIB, library)


def _binary_bad_elf(root: Path) -> None:
    _write(root, "bin/ollama", elf_file({".symtab": b"\0" * 24}, e_shoff=10**9))
    _write(root, CUDA_LIB, VALID_LIB)


def _binary_is_directory(root: Path) -> None:
    (root / "bin" / "ollama").mkdir(parents=True)
    _write(root, CUDA_LIB, VALID_LIB)


DIRECTORY_CASES: list[tuple[str, Callable[[Path], None], int]] = [
    ("valid-install", _valid, 0),
    ("empty-directory", lambda _root: None, 8),
    ("unrelated-files-only", lambda root: _write(root, "etc/motd", b"hello"), 8),
    ("cuda-library-empty", lambda root: _install_with_library(root, b""), 8),
    ("cuda-library-bad-section-table", lambda root: _install_with_library(
        root, elf_file({".nv_fatbin": VALID_FATBIN}, e_shoff=10**9)), 8),
    ("lib-ollama-symlink-loop", _loop_lib_dir, 0),
    ("cuda-dir-symlink-loop", _loop_cuda_dir, 0),
    ("cuda-library-dangling-symlink", _dangling_library, 0),
    ("cuda-library-symlink-to-dev-zero", _library_links_to_dev_zero, 0),
    ("binary-with-bad-section-table", _binary_bad_elf, 0),
    ("binary-is-a-directory", _binary_is_directory, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("layout", "expected"), [pytest.param(f, c, id=n) for n, f, c in DIRECTORY_CASES]
)
def test_install_directory(
    layout: Callable[[Path], None], expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _dir(box, layout)
    outcome = run_main(["inspect", str(root), "--json"], capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_clean_error(outcome, expected)


# --- tarballs --------------------------------------------------------------------------------

VALID_TAR = tar_bytes(
    [
        tar_member("bin/", kind=tarfile.DIRTYPE),
        tar_member("bin/ollama", b"#!/bin/sh\n"),
        tar_member("lib/ollama/cuda_v12/", kind=tarfile.DIRTYPE),
        tar_member(CUDA_LIB, VALID_LIB),
    ]
)
VALID_TGZ = gz(VALID_TAR)
LIB_OFFSET = VALID_TAR.index(VALID_LIB)


def _tar_with(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    return gz(tar_bytes([tar_member("bin/ollama", b"#!/bin/sh\n"), *members]))


def _bad_checksum() -> bytes:
    data = bytearray(VALID_TAR)
    data[148:156] = b"0000000\0"
    return gz(bytes(data))


# (case id, file name, bytes, expected exit code)
TARBALL_CASES: list[tuple[str, str, bytes, int]] = [
    ("valid-tgz", "ollama.tgz", VALID_TGZ, 0),
    ("valid-plain-tar", "ollama.tar", VALID_TAR, 0),
    ("empty-file", "ollama.tgz", b"", 8),
    ("not-gzip", "ollama.tgz", b"hello world\n" * 10, 8),
    ("gzip-of-text", "ollama.tar.gz", gz(b"hello world\n" * 10), 8),
    ("truncated-gzip-half", "ollama.tar.gz", VALID_TGZ[: len(VALID_TGZ) // 2], 8),
    ("truncated-gzip-header", "ollama.tar.gz", VALID_TGZ[:15], 8),
    ("truncated-gzip-last-byte", "ollama.tar.gz", VALID_TGZ[:-1], 8),
    ("truncated-tar-inside-library", "ollama.tar.gz", gz(VALID_TAR[: LIB_OFFSET + 100]), 8),
    ("truncated-tar-after-header", "ollama.tar", VALID_TAR[:700], 8),
    ("empty-archive", "ollama.tgz", gz(b"\0" * 1024), 8),
    ("bad-header-checksum", "ollama.tgz", _bad_checksum(), 8),
    ("unsafe-names-only", "ollama.tgz",
     gz(tar_bytes([tar_member("../../etc/passwd", b"x"), tar_member("/abs/ollama", b"x")])), 8),
    ("unsafe-names-and-valid-install", "ollama.tgz",
     _tar_with(tar_member("../../evil", b"x"), tar_member(CUDA_LIB, VALID_LIB)), 0),
    ("library-bad-section-table", "ollama.tgz",
     _tar_with(tar_member(CUDA_LIB, elf_file({".nv_fatbin": VALID_FATBIN}, e_shoff=10**9))), 8),
    ("library-truncated-elf", "ollama.tgz", _tar_with(tar_member(CUDA_LIB, VALID_LIB[:80])), 8),
    ("library-empty", "ollama.tgz", _tar_with(tar_member(CUDA_LIB, b"")), 8),
    ("library-absolute-symlink", "ollama.tgz",
     _tar_with(tar_member(CUDA_LIB, kind=tarfile.SYMTYPE, linkname="/etc/passwd")), 0),
    ("fifo-member", "ollama.tgz", _tar_with(tar_member("lib/ollama/fifo", kind=tarfile.FIFOTYPE)), 0),
    ("device-member", "ollama.tgz", _tar_with(tar_member("lib/ollama/dev", kind=tarfile.CHRTYPE)), 0),
    ("zst-garbage", "ollama.tar.zst", b"definitely not zstd\n" * 4, 8),
    ("zst-empty", "ollama.tar.zst", b"", 8),
    ("xz-garbage", "ollama.tar.xz", b"not xz\n" * 4, 8),
    ("bz2-garbage", "ollama.tar.bz2", b"not bz2\n" * 4, 8),
    ("tgz-named-library", "libggml-cuda.so", VALID_TGZ, 8),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [pytest.param(f, d, c, id=n) for n, f, d, c in TARBALL_CASES],
)
def test_tarball(
    name: str, data: bytes, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    path = box.file(name, data)
    outcome = run_main(["inspect", str(path), "--json"], capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_clean_error(outcome, expected)
    assert box.leftovers() == [], "inspect extracts nothing, not even into TMPDIR"


STDIN_CASES = [
    ("valid-tar", VALID_TAR, 0),
    ("valid-tgz", VALID_TGZ, 0),
    ("empty", b"", 8),
    ("garbage", b"garbage\n" * 100, 8),
    ("truncated-tgz", VALID_TGZ[: len(VALID_TGZ) // 2], 8),
]


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, c, id=n) for n, d, c in STDIN_CASES]
)
def test_tar_stream_on_stdin(
    data: bytes, expected: int, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_main(["inspect", "-", "--json"], capsys, stdin=data)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_clean_error(outcome, expected)


def test_path_does_not_exist(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    assert_error_code(run_main(["inspect", str(box.root / "nothing")], capsys), 2)


def test_path_is_a_dangling_symlink(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    link = box.root / "link.tgz"
    link.symlink_to(box.root / "nowhere.tgz")
    assert_error_code(run_main(["inspect", str(link)], capsys), 2)


def test_path_is_dev_null(capsys: pytest.CaptureFixture[str]) -> None:
    assert_clean_error(run_main(["inspect", os.devnull], capsys), 8)


def test_unknown_generation_override(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    path = box.file("libggml-cuda.so", VALID_LIB)
    outcome = run_main(["inspect", str(path), "--ollama-generation", "G0"], capsys)
    assert_error_code(outcome, 2)


def test_buffer_helper_roundtrip() -> None:
    """The crafted valid archive is what tarfile itself reads back (guards the fixtures)."""
    with tarfile.open(fileobj=io.BytesIO(VALID_TGZ), mode="r:gz") as archive:
        assert CUDA_LIB in archive.getnames()
