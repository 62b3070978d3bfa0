"""Find and audit the CUDA libraries of an Ollama install: directory, release tarball or one file.

Tarballs (``.tar.gz``/``.tgz``/``.tar.zst``/``.tar``, or ``-`` for a tar stream on stdin) are
read in one streaming pass and never extracted: a CUDA library or ``bin/ollama`` is held in
memory while it is read (up to 256 MiB; a larger one goes to an unnamed temporary file that
vanishes with it), then dropped; the rest is skipped. Entries with an absolute name or a
``..`` component are listed as skipped and never read; links are recorded, never followed.
``.tar.zst`` needs the ``zstandard`` module or the ``zstd`` program (streamed through a FIFO).

Reads are bounded: a member that claims more than any Ollama file could be (a crafted header,
a GNU sparse member of holes) is refused or skipped, never materialised. A truncated
compressed stream, an archive cut inside a member or one that stops at a damaged header
(tarfile alone takes those for the end of the archive) is an error, and so is a directory or
archive with no Ollama file at all. FIFOs, devices and other non-regular files are refused.

``layout`` reads what was scanned: which backends exist and which Ollama generation the layout
(or the version recorded in ``bin/ollama``) points to.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import importlib
import io
import lzma
import mmap
import os
import re
import sys
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Literal, cast

from build_tools.audit.fatbin import (
    LibraryAudit,
    UnreadableArtifactError,
    audit_elf_bytes,
    audit_elf_file,
    read_library,
)
from build_tools.audit.gobinary import OLLAMA_GO_VARIABLES, read_go_strings
from build_tools.errors import CommandFailedError, ConfigurationError
from build_tools.files import format_size, open_regular
from build_tools.generations import OllamaVersion
from build_tools.runner import Runner

__all__ = [
    "BuildInfo",
    "ScannedTree",
    "SkippedEntry",
    "TreeFile",
    "is_cuda_library",
    "is_mlx_library",
    "safe_member_name",
    "scan",
]

CUDA_LIBRARY = re.compile(r"^libggml[-_]cuda[\w-]*\.so(\.[\d.]+)?$")
# The MLX CUDA backend (v0.33+): lib/ollama/mlx_cuda_v13/libmlx.so, built from its own
# architecture list (MLX_CUDA_ARCHITECTURES). libmlxc.so is MLX-C's thin C layer over it.
MLX_LIBRARY = re.compile(r"(^|/)mlx_cuda_v\d+/libmlx\.so(\.[\d.]+)?$")
TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".tar.bz2")
# Bounds of what is read from an archive member: held in memory up to IN_MEMORY, copied to an
# unnamed temporary file up to the cap; a member claiming more is not an Ollama file.
IN_MEMORY = 256 * 2**20
MAX_LIBRARY_BYTES = 16 * 2**30
MAX_BINARY_BYTES = 4 * 2**30
_ELF_MAGIC = b"\x7fELF"
_CHUNK = 2**20
_TAR_BUFFER = 2**18  # tarfile's read size
_TARBALL_HINT = "pass an install directory, a .tar.gz/.tgz/.tar.zst release tarball or a library"

FileKind = Literal["file", "symlink", "dir"]


def is_cuda_library(name: str) -> bool:
    """``libggml-cuda.so`` (G3-G5) or ``libggml_cuda_v12.so`` (G1/G2)."""
    return CUDA_LIBRARY.match(PurePosixPath(name).name) is not None


def is_mlx_library(path: str) -> bool:
    """``mlx_cuda_vNN/libmlx.so``: the device code of the MLX CUDA backend."""
    return MLX_LIBRARY.search(path) is not None


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
    # audited MLX libraries: their own arch list and runtime rule, so kept apart from ggml's
    mlx_libraries: tuple[LibraryAudit, ...] = ()


# --- Go build info -----------------------------------------------------------------------------

_VERSION_X = re.compile(rb"ollama/version\.Version=v?(\d+\.\d+\.\d+(?:-rc\d+)?[\w.+-]*)")
_MIN_X = re.compile(rb"discover\.CudaCompute(Major|Minor)Min=(\d+)")


def _scan_build_info(stream: BinaryIO, data: bytes | mmap.mmap, path: str) -> BuildInfo:
    """The version and CUDA minimum the Go binary was built with (``stream`` and ``data``
    are the same bytes: an open file and its contents or mapping).

    First from the Go variables themselves (our builds keep the symbol table, see
    gobinary.py), then from ``-ldflags`` recorded in the build info (builds without
    ``-trimpath``). Official releases are stripped and trimmed: neither works there, and the
    layout decides the generation instead.
    """
    variables = read_go_strings(stream, OLLAMA_GO_VARIABLES)
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


def _no_build_info(path: str) -> BuildInfo:
    return BuildInfo(path=path, version=None, version_text=None, cuda_minimum=None)


def _build_info_of_file(path: Path, rel: str) -> BuildInfo:
    try:
        with open_regular(path) as stream:
            size = os.fstat(stream.fileno()).st_size
            if size == 0 or size > MAX_BINARY_BYTES:
                return _no_build_info(rel)
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return _scan_build_info(stream, mapped, rel)
    except OSError as error:
        raise UnreadableArtifactError(f"cannot read {path}: {error.strerror}") from None


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
    mlx: list[LibraryAudit] = []
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
            if is_cuda_library(rel) or is_mlx_library(rel):
                audit = replace(read_library(path), path=rel)
                (mlx if is_mlx_library(rel) else libraries).append(audit)
            elif build_info is None and _is_ollama_binary(rel):
                build_info = _build_info_of_file(path, rel)
    return ScannedTree(
        source=str(root),
        source_kind="directory",
        files=tuple(files),
        libraries=tuple(libraries),
        build_info=build_info,
        mlx_libraries=tuple(mlx),
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


class _Tracked:
    """The (decompressed) archive as tarfile reads it: counts the bytes and keeps the last
    ones, so that what stopped tarfile can be checked afterwards (tarfile takes a truncated
    archive or a damaged header for the end of the archive)."""

    WINDOW = 4 * _TAR_BUFFER  # more than tarfile reads ahead

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self._stream = stream
        self.total = 0  # bytes read so far
        self._window = bytearray()
        self._start = 0  # archive offset of self._window[0]

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._keep(data)
        return data

    def _keep(self, data: bytes) -> None:
        self.total += len(data)
        self._window += data
        if len(self._window) > self.WINDOW:
            drop = len(self._window) - self.WINDOW
            del self._window[:drop]
            self._start += drop

    def block_at(self, offset: int) -> bytes:
        """The 512 bytes at ``offset`` (fewer where the archive ends); reads on if needed."""
        while self.total < offset + tarfile.BLOCKSIZE:
            data = self._stream.read(tarfile.BLOCKSIZE)
            if not data:
                break
            self._keep(data)
        if offset < self._start:
            return b""
        return bytes(self._window[offset - self._start : offset - self._start + tarfile.BLOCKSIZE])

    def drain(self) -> None:
        """Read to the end: a compressed stream checks its end marker and checksum there."""
        while self._stream.read(_CHUNK):
            pass


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read to sniff the format), then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _decompressed(stream: IO[bytes], source: str) -> io.BufferedIOBase:
    """The tar stream inside ``stream``: gzip, bzip2 and xz are recognised by their magic
    bytes; their readers raise EOFError when the compressed data is cut short."""
    head = stream.read(6)
    raw = io.BufferedReader(_Prefixed(head, stream))
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, mode="rb")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise UnreadableArtifactError(
            f"{source} is zstd-compressed",
            hint="name it .tar.zst, or decompress it into the pipe: "
            "zstd -dc FILE | python -m build_tools inspect -",
        )
    return raw


def _member_bytes(stream: IO[bytes], head: bytes, size: int) -> tuple[BinaryIO, bytes | mmap.mmap]:
    """The whole data of a member (``head`` already read from ``stream``) as an open file and
    its bytes: in memory, or a mapping of an unnamed temporary file for a large one."""
    if size <= IN_MEMORY:
        data = head + stream.read()
        return io.BytesIO(data), data
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller with the mapping
    try:
        spool.write(head)
        while chunk := stream.read(_CHUNK):
            spool.write(chunk)
        spool.flush()
        return cast(BinaryIO, spool), mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ)
    except BaseException:
        spool.close()
        raise


def _too_large(member: tarfile.TarInfo, name: str, cap: int) -> str | None:
    if member.issparse():
        return f"{name} is a sparse member ({format_size(member.size)} of holes)"
    if member.size > cap:
        return f"{name} claims {format_size(member.size)}, more than any Ollama file"
    return None


def _open_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = archive.extractfile(member)
    assert stream is not None  # regular members always have data
    return stream


def _skip(archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    """Read past a member's data: a truncated archive fails here at once (tarfile's own skip
    would walk the whole claimed size first)."""
    if member.issparse():
        return  # its stored data is only the map; the holes are never materialised
    with _open_member(archive, member) as stream:
        while stream.read(_CHUNK):
            pass


def _tar_library(archive: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> LibraryAudit:
    problem = _too_large(member, name, MAX_LIBRARY_BYTES)
    if problem is not None:
        raise UnreadableArtifactError(f"{problem}: not a CUDA library", hint=_TARBALL_HINT)
    with _open_member(archive, member) as member_stream:
        head = member_stream.read(len(_ELF_MAGIC))
        if not head:
            raise UnreadableArtifactError(f"{name}: empty file, not an ELF library")
        if head != _ELF_MAGIC:
            raise UnreadableArtifactError(
                f"{name}: not an ELF file", hint="pass a CUDA library such as libggml-cuda.so"
            )
        stream, data = _member_bytes(member_stream, head, member.size)
    try:
        if isinstance(data, bytes):
            return audit_elf_bytes(data, name)
        return audit_elf_file(stream, name)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
        stream.close()


def _tar_build_info(archive: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> BuildInfo:
    problem = _too_large(member, name, MAX_BINARY_BYTES)
    if problem is not None:
        raise UnreadableArtifactError(f"{problem}: not an Ollama binary", hint=_TARBALL_HINT)
    with _open_member(archive, member) as member_stream:
        head = member_stream.read(len(_ELF_MAGIC))
        if head != _ELF_MAGIC:
            while member_stream.read(_CHUNK):  # not a Go binary: no build info to read
                pass
            return _no_build_info(name)
        stream, data = _member_bytes(member_stream, head, member.size)
    try:
        return _scan_build_info(stream, data, name)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
        stream.close()


def _scan_tar(archive: tarfile.TarFile, source: str) -> ScannedTree:
    files: list[TreeFile] = []
    libraries: list[LibraryAudit] = []
    mlx: list[LibraryAudit] = []
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
        if is_cuda_library(name):
            libraries.append(_tar_library(archive, member, name))
        elif is_mlx_library(name):
            mlx.append(_tar_library(archive, member, name))
        elif build_info is None and _is_ollama_binary(name):
            build_info = _tar_build_info(archive, member, name)
        else:
            _skip(archive, member)
    return ScannedTree(
        source=source,
        source_kind="tarball",
        files=tuple(files),
        libraries=tuple(libraries),
        skipped=tuple(skipped),
        build_info=build_info,
        mlx_libraries=tuple(mlx),
    )


def _check_end(archive: tarfile.TarFile, tracked: _Tracked, source: str) -> None:
    """tarfile stopped: at the end-of-archive marker (a zero block), or - wrongly taken for
    the end - at a truncation or a damaged header."""
    block = tracked.block_at(archive.offset)
    if len(block) < tarfile.BLOCKSIZE:
        raise UnreadableArtifactError(
            f"{source}: the archive is truncated (it ends at byte {tracked.total} without the "
            "end-of-archive marker)",
            hint="download it again; compare its size and checksum with the release",
        )
    if block.count(0) != tarfile.BLOCKSIZE:
        raise UnreadableArtifactError(
            f"{source}: damaged tar header at byte {archive.offset}",
            hint="download it again; compare its size and checksum with the release",
        )
    tracked.drain()


def _open_stream_tar(stream: IO[bytes], source: str) -> ScannedTree:
    try:
        tracked = _Tracked(_decompressed(stream, source))
        # "r|": sequential, no seeking back; the data is already decompressed.
        with tarfile.open(  # type: ignore[call-overload]
            fileobj=tracked, mode="r|", bufsize=_TAR_BUFFER
        ) as archive:
            scanned = _scan_tar(archive, source)
            _check_end(archive, tracked, source)
            return scanned
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as error:
        raise UnreadableArtifactError(
            f"{source}: not a readable tar archive ({str(error) or type(error).__name__})",
            hint=_TARBALL_HINT,
        ) from None


def _scan_zstd(path: Path, stream: IO[bytes], runner: Runner) -> ScannedTree:
    try:
        zstandard: Any = importlib.import_module("zstandard")
    except ImportError:
        return _scan_zstd_program(path, runner)
    reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    try:
        with reader:
            return _open_stream_tar(reader, str(path))
    except zstandard.ZstdError as error:
        raise UnreadableArtifactError(
            f"{path}: not a readable zstd archive ({error})", hint=_TARBALL_HINT
        ) from None


def _zstd_failed(path: Path, error: BaseException) -> BaseException:
    if isinstance(error, CommandFailedError):
        lines = [line for line in error.output_tail.splitlines() if line.strip()]
        said = lines[-1].strip() if lines else f"exit code {error.returncode}"
        return UnreadableArtifactError(
            f"{path}: zstd cannot decompress it ({said})", hint=_TARBALL_HINT
        )
    return error


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
            # zstd's own failure explains an empty or cut stream; a broken pipe only means
            # that the reading side gave up first.
            if failure and "broken pipe" not in str(getattr(failure[0], "output_tail", "")).lower():
                raise _zstd_failed(path, failure[0]) from None
            raise
        worker.join()
        if failure:
            raise _zstd_failed(path, failure[0])
        return result


def _is_ollama_file(file: TreeFile) -> bool:
    parts = PurePosixPath(file.path).parts
    return (
        _is_ollama_binary(file.path)
        or parts[:2] == ("lib", "ollama")
        or PurePosixPath(file.path).name.startswith(("libggml", "libollama"))
    )


def _require_ollama(tree: ScannedTree) -> ScannedTree:
    """A directory or archive without a single Ollama file is not "an install without CUDA"."""
    if tree.libraries or any(_is_ollama_file(f) for f in tree.files):
        return tree
    raise UnreadableArtifactError(
        f"{tree.source}: no Ollama install found (no bin/ollama, no lib/ollama, no libggml "
        "library)",
        hint="pass an install prefix such as /usr/local, its lib/ollama directory, a release "
        "tarball or a CUDA library",
    )


def scan(path: Path | str, runner: Runner) -> ScannedTree:
    """Scan an install directory, a tarball (``-`` = a tar stream on stdin) or one library."""
    if str(path) == "-":
        return _require_ollama(_open_stream_tar(sys.stdin.buffer, "<stdin>"))
    path = Path(path)
    if not path.exists():
        raise ConfigurationError(
            f"{path} does not exist",
            hint="pass an Ollama install directory (e.g. /usr/local), a release tarball or a "
            "CUDA library",
        )
    if path.is_dir():
        return _require_ollama(_scan_directory(path))
    name = path.name.lower()
    if name.endswith((*TARBALL_SUFFIXES, ".tzst")):
        try:
            stream = open_regular(path)  # a FIFO or device is refused, not read forever
        except OSError as error:
            raise UnreadableArtifactError(f"cannot read {path}: {error.strerror}") from None
        with stream:
            if name.endswith((".tar.zst", ".tzst")):
                return _require_ollama(_scan_zstd(path, stream, runner))
            return _require_ollama(_open_stream_tar(stream, str(path)))
    audit = read_library(path)
    return ScannedTree(
        source=str(path),
        source_kind="library",
        files=(TreeFile(path.name, "file", audit.size),),
        libraries=(replace(audit, path=path.name),),
    )
