"""Find and audit the CUDA libraries of an Ollama install: directory, release tarball or one file.

Tarballs (``.tar.gz``/``.tgz``/``.tar.zst``/``.tar``, or ``-`` for a tar stream on stdin) are
read in one streaming pass and never extracted: a CUDA library is held in memory while it is
audited (about 130 MB for an arch-86 build, over 1 GB for a stock one), then dropped. Entries
with an absolute name or a ``..`` component are listed as skipped and never read; links are
recorded, never followed. ``.tar.zst`` needs the ``zstandard`` module or the ``zstd`` program
(streamed through a FIFO, so nothing lands on disk either).

``layout`` reads what was scanned: which backends exist and which Ollama generation the layout
(or the version recorded in ``bin/ollama``) points to.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from build_tools.audit.fatbin import (
    LibraryAudit,
    UnreadableArtifactError,
    audit_elf_bytes,
    read_library,
)
from build_tools.audit.gobinary import OLLAMA_GO_VARIABLES, read_go_strings
from build_tools.errors import ConfigurationError
from build_tools.generations import OllamaVersion
from build_tools.runner import Runner

__all__ = [
    "BuildInfo",
    "ScannedTree",
    "SkippedEntry",
    "TreeFile",
    "is_cuda_library",
    "safe_member_name",
    "scan",
]

CUDA_LIBRARY = re.compile(r"^libggml[-_]cuda[\w-]*\.so(\.[\d.]+)?$")
TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".tar.bz2")

FileKind = Literal["file", "symlink", "dir"]


def is_cuda_library(name: str) -> bool:
    """``libggml-cuda.so`` (G3-G5) or ``libggml_cuda_v12.so`` (G1/G2)."""
    return CUDA_LIBRARY.match(PurePosixPath(name).name) is not None


@dataclass(frozen=True)
class TreeFile:
    path: str  # relative POSIX path, "./" stripped
    kind: FileKind
    size: int


@dataclass(frozen=True)
class SkippedEntry:
    name: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class BuildInfo:
    """What the Go binary's embedded build settings (its ``-ldflags``) tell."""

    path: str
    version: OllamaVersion | None
    version_text: str | None  # as recorded, e.g. "0.6.8-0-g1234567"
    cuda_minimum: tuple[int, int] | None  # -X discover.CudaComputeMajorMin/MinorMin (G2/G3)


@dataclass(frozen=True, kw_only=True)
class ScannedTree:
    source: str
    source_kind: Literal["directory", "tarball", "library"]
    files: tuple[TreeFile, ...]
    libraries: tuple[LibraryAudit, ...]  # audited CUDA libraries, path relative to the root
    skipped: tuple[SkippedEntry, ...] = ()
    build_info: BuildInfo | None = None


# --- Go build info -----------------------------------------------------------------------------

_VERSION_X = re.compile(rb"ollama/version\.Version=v?(\d+\.\d+\.\d+(?:-rc\d+)?[\w.+-]*)")
_MIN_X = re.compile(rb"discover\.CudaCompute(Major|Minor)Min=(\d+)")


def _scan_build_info(stream: IO[bytes], path: str) -> BuildInfo:
    """The version and CUDA minimum the Go binary was built with.

    First from the Go variables themselves (our builds keep the symbol table, see
    gobinary.py), then from ``-ldflags`` recorded in the build info (builds without
    ``-trimpath``). Official releases are stripped and trimmed: neither works there, and the
    layout decides the generation instead.
    """
    data = stream.read()
    variables = read_go_strings(io.BytesIO(data), OLLAMA_GO_VARIABLES)
    version_text = variables.get("github.com/ollama/ollama/version.Version") or None
    minimum: dict[bytes, int] = {}
    for which in (b"Major", b"Minor"):
        value = variables.get(f"github.com/ollama/ollama/discover.CudaCompute{which.decode()}Min")
        if value is not None and value.isdigit():
            minimum[which] = int(value)
    if version_text is None and (match := _VERSION_X.search(data)):
        version_text = match[1].decode()
    if not minimum:
        minimum = {which: int(value) for which, value in _MIN_X.findall(data)}
    version = OllamaVersion.from_describe(version_text) if version_text else None
    cuda_minimum = None
    if b"Major" in minimum:
        cuda_minimum = (minimum[b"Major"], minimum.get(b"Minor", 0))
    return BuildInfo(
        path=path, version=version, version_text=version_text, cuda_minimum=cuda_minimum
    )


def _is_ollama_binary(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return parts[-1:] == ("ollama",) and (len(parts) == 1 or parts[-2] == "bin")


# --- directories -------------------------------------------------------------------------------


def _scan_directory(root: Path) -> ScannedTree:
    # An install prefix such as /usr/local holds much more than Ollama: only read its parts.
    tops = [root / "lib" / "ollama", root / "bin" / "ollama"]
    if not tops[0].is_dir():
        tops = [root]
    files: list[TreeFile] = []
    libraries: list[LibraryAudit] = []
    build_info = None
    for top in tops:
        for path in _walk(top):
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                files.append(TreeFile(rel, "symlink", 0))
                continue
            if path.is_dir():
                files.append(TreeFile(rel, "dir", 0))
                continue
            files.append(TreeFile(rel, "file", path.stat().st_size))
            if is_cuda_library(rel):
                audit = read_library(path)
                libraries.append(replace(audit, path=rel))
            elif build_info is None and _is_ollama_binary(rel):
                with path.open("rb") as stream:
                    build_info = _scan_build_info(stream, rel)
    return ScannedTree(
        source=str(root),
        source_kind="directory",
        files=tuple(files),
        libraries=tuple(libraries),
        build_info=build_info,
    )


def _walk(top: Path) -> Iterator[Path]:
    if not top.is_dir() or top.is_symlink():
        if top.exists() or top.is_symlink():
            yield top
        return
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for name in dirnames:
            yield base / name
        for name in sorted(filenames):
            yield base / name


# --- tarballs ----------------------------------------------------------------------------------


def safe_member_name(name: str) -> str | None:
    """The member name made relative, or None if it is absolute or climbs with ``..``."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if ".." in parts:
        return None
    return "/".join(parts)


def _scan_tar(archive: tarfile.TarFile, source: str) -> ScannedTree:
    files: list[TreeFile] = []
    libraries: list[LibraryAudit] = []
    skipped: list[SkippedEntry] = []
    build_info = None
    for member in archive:
        name = safe_member_name(member.name)
        if name is None:
            skipped.append(SkippedEntry(member.name, "absolute path or '..': not followed"))
            continue
        if not name:
            continue
        if member.issym() or member.islnk():
            files.append(TreeFile(name, "symlink", 0))
            continue
        if member.isdir():
            files.append(TreeFile(name, "dir", 0))
            continue
        if not member.isreg():
            skipped.append(SkippedEntry(member.name, "not a regular file"))
            continue
        files.append(TreeFile(name, "file", member.size))
        if is_cuda_library(name) or (build_info is None and _is_ollama_binary(name)):
            stream = archive.extractfile(member)
            assert stream is not None  # regular members always have data
            with stream:
                if is_cuda_library(name):
                    libraries.append(audit_elf_bytes(stream.read(), name))
                else:
                    build_info = _scan_build_info(stream, name)
    return ScannedTree(
        source=source,
        source_kind="tarball",
        files=tuple(files),
        libraries=tuple(libraries),
        skipped=tuple(skipped),
        build_info=build_info,
    )


def _open_stream_tar(stream: IO[bytes], source: str) -> ScannedTree:
    try:
        # "r|*": sequential (no seeking back), compression detected from the data.
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            return _scan_tar(archive, source)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise UnreadableArtifactError(
            f"{source}: not a readable tar archive ({error})",
            hint="pass an install directory, a .tar.gz/.tgz/.tar.zst release tarball or a library",
        ) from None


def _scan_zstd(path: Path, runner: Runner) -> ScannedTree:
    try:
        zstandard: Any = importlib.import_module("zstandard")
    except ImportError:
        return _scan_zstd_program(path, runner)
    with path.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with reader:
            return _open_stream_tar(reader, str(path))


def _scan_zstd_program(path: Path, runner: Runner) -> ScannedTree:
    """Decompress with the ``zstd`` program into a FIFO that tarfile reads: nothing hits disk."""
    zstd = runner.which(
        "zstd",
        hint="install zstd (apt-get install zstd) or the Python module (pip install zstandard), "
        "or pipe the archive in: zstd -dc FILE | python -m build_tools inspect -",
    )
    with tempfile.TemporaryDirectory(prefix="inspect-") as scratch:
        fifo = Path(scratch) / "tar"
        os.mkfifo(fifo, 0o600)
        failure: list[BaseException] = []

        def decompress() -> None:
            try:
                argv: list[str | os.PathLike[str]] = [zstd, "-d", "-q", "-f", "--no-sparse"]
                argv += [path, "-o", fifo]
                runner.run(argv, probe=True, what="zstd -d")
            except BaseException as error:  # reported by the reading side
                failure.append(error)
            finally:
                # If zstd died before opening the FIFO, the reader is blocked in open(): this
                # unblocks it (it then sees an empty stream). ENXIO means nobody waits: fine.
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

        worker = threading.Thread(target=decompress, daemon=True)
        worker.start()
        try:
            with fifo.open("rb") as stream:
                result = _open_stream_tar(stream, str(path))
        except UnreadableArtifactError:
            worker.join()
            if failure:
                raise failure[0] from None
            raise
        worker.join()
        if failure:
            raise failure[0]
        return result


def scan(path: Path | str, runner: Runner) -> ScannedTree:
    """Scan an install directory, a tarball (``-`` = a tar stream on stdin) or one library."""
    if str(path) == "-":
        return _open_stream_tar(sys.stdin.buffer, "<stdin>")
    path = Path(path)
    if not path.exists():
        raise ConfigurationError(
            f"{path} does not exist",
            hint="pass an Ollama install directory (e.g. /usr/local), a release tarball or a "
            "CUDA library",
        )
    if path.is_dir():
        return _scan_directory(path)
    name = path.name.lower()
    if name.endswith((".tar.zst", ".tzst")):
        return _scan_zstd(path, runner)
    if name.endswith(TARBALL_SUFFIXES):
        with path.open("rb") as stream:
            return _open_stream_tar(stream, str(path))
    audit = read_library(path)
    return ScannedTree(
        source=str(path),
        source_kind="library",
        files=(TreeFile(path.name, "file", audit.size),),
        libraries=(replace(audit, path=path.name),),
    )
