"""``--format wheel``: the built tree as a platform wheel whose ``ollama`` command runs it.

Written directly with :mod:`zipfile` per the wheel spec (PEP 427/491) rather than through
scikit-build-core: that backend builds from a CMake project, while here the tree is already built,
audited and hashed; a wheel of an existing tree is just a zip of fixed layout, and writing it
ourselves is what makes it byte-reproducible (sorted entries, SOURCE_DATE_EPOCH timestamps, fixed
modes and compression level).

Layout: ``ollama_bin/bin/ollama`` and ``ollama_bin/lib/ollama/...`` (the release layout, so the
binary finds its backends relative to itself), a shim ``ollama_bin/__init__.py`` whose ``main``
execs the binary (argv preserved; the exit status is the binary's own, since exec replaces the
Python process), and the ``ollama`` console script pointing at it.

Zip archives cannot hold symlinks (pip would write the target path as the file's content), so
each symlink is stored as a copy of its target under the link's name, which is the SONAME the
loader asks for; a regular file reached only through in-tree symlinks (``libcublas.so.12.4.5.8``)
is then left out instead of being shipped twice.

The platform tag is ``linux_<machine>``, not ``manylinux_2_xx``: a manylinux tag promises that
every ELF file only needs the glibc/libstdc++ symbol versions and system libraries of that
policy, which ``auditwheel`` checks and this tree does not meet (``libggml-cuda.so`` needs the
driver's ``libcuda.so.1``, the Go binary the build host's glibc). ``linux_*`` installs with pip
on any Linux of that machine type and is, correctly, refused by PyPI: this is a local build for
specific GPUs.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from build_tools import __version__
from build_tools.package.staging import TreeEntry

__all__ = ["DISTRIBUTION", "WheelSpec", "wheel_filename", "write_wheel"]

DISTRIBUTION = "ollama_bin"  # also the import package; the PyPI name "ollama" is the client
ZIP_EPOCH_MIN = 315532800  # 1980-01-01: zip timestamps cannot go earlier

SHIM = '''\
"""Run the Ollama binary shipped in this package (installed by ollama-build-tools)."""

import os
import sys
from pathlib import Path

BINARY = Path(__file__).resolve().parent / "bin" / "ollama"


def main() -> None:
    # exec, not subprocess: signals, the exit status and the terminal go straight to Ollama.
    os.execv(BINARY, [str(BINARY), *sys.argv[1:]])
'''

MAIN = "from ollama_bin import main\n\nmain()\n"


@dataclass(frozen=True, kw_only=True)
class WheelSpec:
    version: str  # PEP 440, with local label: "0.24.0+cuda12.sm86.ptx86"
    platform_tag: str  # "linux_x86_64"
    summary: str
    epoch: int


def wheel_filename(spec: WheelSpec) -> str:
    return f"{DISTRIBUTION}-{spec.version}-py3-none-{spec.platform_tag}.whl"


def _record_hash(hex_digest: str) -> str:
    raw = bytes.fromhex(hex_digest)
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _bytes_hash(data: bytes) -> str:
    return _record_hash(hashlib.sha256(data).hexdigest())


def _zip_info(name: str, epoch: int, *, executable: bool) -> zipfile.ZipInfo:
    stamp = time.gmtime(max(epoch, ZIP_EPOCH_MIN))[:6]
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.create_system = 3  # Unix, so that external_attr carries the mode pip applies
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    # zlib's default level (6) for every member: a fixed level is part of the reproducible bytes.
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


@dataclass(frozen=True)
class _Member:
    name: str  # inside the zip
    source: Path  # file whose content it gets
    executable: bool
    size: int
    sha256: str


def _members(entries: Sequence[TreeEntry], root: Path) -> list[_Member]:
    """Files to ship under ``ollama_bin/``: symlinks materialised, link-only targets dropped."""
    files = {e.path: e for e in entries if e.kind == "file"}
    link_targets: dict[str, TreeEntry] = {}
    for entry in entries:
        if entry.kind == "symlink":
            resolved = (root / entry.path).resolve().relative_to(root.resolve()).as_posix()
            if resolved in files:  # links to directories are not part of any Ollama layout
                link_targets[entry.path] = files[resolved]
    only_via_links = {e.path for e in link_targets.values()}
    members = []
    for entry in entries:
        source = link_targets.get(entry.path) or files.get(entry.path)
        if source is None or entry.path in only_via_links:
            continue
        members.append(
            _Member(
                name=str(PurePosixPath(DISTRIBUTION) / entry.path),
                source=root / source.path,
                executable=source.executable,
                size=source.size,
                sha256=source.sha256,
            )
        )
    return members


def _metadata(spec: WheelSpec) -> dict[str, str]:
    dist_info = f"{DISTRIBUTION}-{spec.version}.dist-info"
    return {
        f"{dist_info}/METADATA": (
            "Metadata-Version: 2.1\n"
            "Name: ollama-bin\n"
            f"Version: {spec.version}\n"
            f"Summary: {spec.summary}\n"
            "License: MIT\n"
        ),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\n"
            f"Generator: ollama-build-tools {__version__}\n"
            "Root-Is-Purelib: false\n"
            f"Tag: py3-none-{spec.platform_tag}\n"
        ),
        f"{dist_info}/entry_points.txt": "[console_scripts]\nollama = ollama_bin:main\n",
    }


def write_wheel(entries: Sequence[TreeEntry], root: Path, dist_dir: Path, spec: WheelSpec) -> Path:
    """Write the wheel into ``dist_dir`` atomically; return its path."""
    dest = dist_dir / wheel_filename(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    small = {
        f"{DISTRIBUTION}/__init__.py": SHIM,
        f"{DISTRIBUTION}/__main__.py": MAIN,
    }
    metadata = _metadata(spec)
    record_name = next(iter(metadata)).rsplit("/", 1)[0] + "/RECORD"
    record: list[str] = []
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            for name, text in small.items():
                data = text.encode()
                archive.writestr(_zip_info(name, spec.epoch, executable=False), data)
                record.append(f"{name},{_bytes_hash(data)},{len(data)}")
            for member in _members(entries, root):
                info = _zip_info(member.name, spec.epoch, executable=member.executable)
                info.file_size = member.size
                with member.source.open("rb") as src, archive.open(info, "w") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                record.append(f"{member.name},{_record_hash(member.sha256)},{member.size}")
            # The spec asks for .dist-info last, so installers can find it by reading the end.
            for name, text in metadata.items():
                data = text.encode()
                archive.writestr(_zip_info(name, spec.epoch, executable=False), data)
                record.append(f"{name},{_bytes_hash(data)},{len(data)}")
            record.append(f"{record_name},,")
            archive.writestr(
                _zip_info(record_name, spec.epoch, executable=False),
                "".join(line + "\n" for line in record),
            )
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest
