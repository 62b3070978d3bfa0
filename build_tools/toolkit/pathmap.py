"""CUDA objects that depend neither on process ids nor on where the work directory is.

Measured with CUDA 12.4 and 13.0 on a kernel with an anonymous-namespace device function and a
static kernel (``docs/build-notes.md#path-independent-cuda-objects``):

* nvcc names its intermediate files ``tmpxft_<pid>_...``; the name reaches the object (the
  host object's file symbol). ``-objtemp`` names them after the object instead.
* cudafe++ and cicc hash the absolute source path they are given (``--orig_src_path_name``)
  into every internal-linkage name (``_GLOBAL__N__<hash>_...``, ``_INTERNAL_<hash>_...``),
  and those names are in the device code of the library. Neither the PID, the working
  directory nor the file's mtime enters that hash; ``-frandom-seed`` (CUDA 13) does not change
  it either. A small preloaded library (``resources/pathmap.c``) rewrites that one argument
  with a prefix map, so the hash is the same wherever the tree is.

Both are applied by a generated launcher script, the first entry of CMake's CUDA compiler
launcher (a compiler cache, if any, comes after it and still sees nvcc's full command line).
It needs no privileges and no user namespaces; what it does need is checked when the build is
planned, and where something is missing the build is recorded as not path-independent.

* cicc's PTX for some kernels (b10068's ``fattn-tile-instance-*``) follows the addresses its
  allocations get: two runs of one command in one directory differ under address-space
  randomisation, and are identical without it. The launcher therefore runs nvcc under
  ``setarch -R`` where the machine allows it (a container's seccomp profile may refuse the
  personality call; the manifest records which). Without randomisation the PTX still follows
  the lengths of the paths on cicc's command line, so two work directories can still differ
  there (``docs/build-notes.md``, "Path-independent CUDA objects"): the SASS does not.
  Where the kernel allows unprivileged user namespaces the launcher therefore runs nvcc in a
  private mount namespace with the work directory bound at one canonical directory
  (:mod:`build_tools.toolkit.canonical`); only then is the build recorded as
  path-independent.

Under ccache the compilers see other paths: ccache hands them every path under its base dir
relative to the directory it compiles in (``../../../sources/<slug>/ggml.c``), so ``__FILE__``
is that relative path and an absolute prefix map does not match it. :func:`relative_forms`
gives the roots in that form, which the host prefix maps carry as well, so a ccache build is
byte-identical to one without a cache. nvcc still hands cudafe++ and cicc the absolute path
(measured with CUDA 12.4), so the preloaded library's map stays absolute.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from build_tools.files import read_regular
from build_tools.runner import Runner
from build_tools.toolkit.model import Toolkit

__all__ = [
    "CANONICAL_DIR",
    "MAP_VARIABLE",
    "METHOD",
    "NVCC_LAUNCHER_DIR",
    "CanonicalPath",
    "NvccLauncher",
    "Reproducibility",
    "canonical_path",
    "install_nvcc_launcher",
    "is_dynamic_elf",
    "plan_nvcc_launcher",
    "prefix_map_flags",
    "relative_forms",
]

METHOD = "nvcc-launcher: -objtemp + source path map preloaded into cudafe++/cicc"
MAP_VARIABLE = "BUILD_TOOLS_NVCC_PATH_MAP"
# Separators of the map and of CMake lists: a path holding one cannot be mapped safely.
_FORBIDDEN = frozenset(":=; \t\n\r\0")
_PT_INTERP = 3


@dataclass(frozen=True, kw_only=True)
class Reproducibility:
    """Whether the CUDA objects of a build are independent of PIDs and the work directory."""

    path_independent: bool
    method: str | None
    reason: str | None = None  # why not, when not
    # nvcc runs without address-space randomisation (setarch -R), so cicc's PTX is the same
    # from run to run in one work directory
    no_aslr: bool = False
    # Where nvcc saw the work directory (a mount namespace per compile), None without one
    canonical_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path_independent": self.path_independent,
            "method": self.method,
            "reason": self.reason,
            "no_aslr": self.no_aslr,
            "canonical_path": self.canonical_path,
        }


# Under the cache directory: the empty directory each compile's namespace binds the work
# directory at. It is the same for every work directory that shares the cache, and only ever
# a mount point (nothing is written into it, so builds that share it need no lock).
CANONICAL_DIR = "canonical"


@dataclass(frozen=True, kw_only=True)
class CanonicalPath:
    """How the launcher runs nvcc with the work directory at ``directory``."""

    work: Path
    directory: Path
    unshare: str
    mount: str
    python: str  # runs build_tools/toolkit/canonical.py, copied next to the launcher

    def command(self, helper: Path) -> tuple[str, ...]:
        return (
            *(self.unshare, "-rm", "--"),
            *(self.python, "-I", "-S", str(helper)),
            *(self.mount, str(self.work), str(self.directory), "--"),
        )


# The launcher's directory name inside a plan's build tree (the stamps leave it out).
NVCC_LAUNCHER_DIR = "nvcc-launcher"


@dataclass(frozen=True, kw_only=True)
class NvccLauncher:
    directory: Path  # inside the build tree: written at every build, never shared
    compiler: Path  # the host compiler that builds the preloaded library
    maps: tuple[tuple[Path, str], ...]  # (absolute prefix, replacement), longest prefix first
    # What the host compiler's prefix maps carry: ``maps`` and, under ccache, their relative
    # forms (BuildPlan.prefix_maps); empty means ``maps``.
    flag_maps: tuple[tuple[str, str], ...] = ()
    # The command nvcc runs under for a fixed address layout ("setarch", "-R"); () when the
    # machine refuses it.
    no_aslr: tuple[str, ...] = ()
    canonical: CanonicalPath | None = None  # None where the machine refuses the namespace

    @property
    def script(self) -> Path:
        return self.directory / "nvcc-launcher"

    @property
    def helper(self) -> Path:
        """The copy of build_tools/toolkit/canonical.py the launcher runs nvcc through."""
        return self.directory / "canonical.py"

    @property
    def library(self) -> Path:
        return self.directory / "libbuild-tools-pathmap.so"

    def map_value(self) -> str:
        return ":".join(f"{old}={new}" for old, new in self.maps)

    def host_flags(self) -> tuple[str, ...]:
        return prefix_map_flags(self.flag_maps or [(str(old), new) for old, new in self.maps])

    def nvcc_flags(self) -> tuple[str, ...]:
        # Two tokens per flag, not "-Xcompiler=...": ccache rewrites the path of a separate
        # -ffile-prefix-map argument under its base dir, while the one-token form keys every
        # work directory apart (docs/build-notes.md, "What the key contains").
        return ("-objtemp", *(word for flag in self.host_flags() for word in ("-Xcompiler", flag)))

    def script_text(self) -> str:
        library = shlex.quote(str(self.library))
        namespace = () if self.canonical is None else self.canonical.command(self.helper)
        return "\n".join(
            [
                "#!/bin/sh",
                "# Written by ollama-build-tools for this build: the first CUDA compiler",
                "# launcher. It makes nvcc's output independent of its process id (-objtemp)",
                "# and of where the work directory is (the preloaded library maps the source",
                "# path that cudafe++ and cicc hash into internal-linkage names; the prefix",
                "# maps do the same for host code; where it can, nvcc runs with the work",
                "# directory at one canonical path). See build_tools/toolkit/pathmap.py.",
                f'LD_PRELOAD={library}"${{LD_PRELOAD:+:$LD_PRELOAD}}"',
                f"{MAP_VARIABLE}={shlex.quote(self.map_value())}",
                f"export LD_PRELOAD {MAP_VARIABLE}",
                "exec "
                + "".join(f"{shlex.quote(word)} " for word in (*namespace, *self.no_aslr))
                + '"$@" '
                + " ".join(shlex.quote(flag) for flag in self.nvcc_flags()),
                "",
            ]
        )


def prefix_map_flags(maps: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """``-ffile-prefix-map`` flags for ``(prefix, replacement)`` pairs. GCC tries the last
    one given first and takes the first that matches (without regard to path components),
    so the longest prefix goes last."""
    ordered = sorted(maps, key=lambda pair: len(pair[0]))
    return tuple(f"-ffile-prefix-map={old}={new}" for old, new in ordered)


def relative_forms(root: Path, base_dir: Path, compile_dirs: Iterable[Path]) -> tuple[str, ...]:
    """``root`` as ccache hands it to a compiler running in each of ``compile_dirs`` when
    ``base_dir`` is its base dir: relative to that directory where both lie under
    ``base_dir``. A directory inside ``root`` gives none: the compiler then sees paths
    without the root in them at all."""
    forms: list[str] = []
    if not root.is_relative_to(base_dir):
        return ()
    for directory in compile_dirs:
        if not directory.is_relative_to(base_dir) or directory.is_relative_to(root):
            continue
        form = os.path.relpath(root, directory)
        if form not in forms:
            forms.append(form)
    return tuple(forms)


def is_dynamic_elf(path: Path) -> bool:
    """Does ``path`` name a dynamically linked 64-bit ELF program (one LD_PRELOAD reaches)?"""
    try:
        data = read_regular(path, limit=256 * 1024 * 1024)
    except OSError:
        return False
    if len(data) < 64 or data[:5] != b"\x7fELF\x02" or data[5] != 1:  # ELF64, little-endian
        return False
    (phoff,) = struct.unpack_from("<Q", data, 32)
    entsize, count = struct.unpack_from("<HH", data, 54)
    for index in range(count):
        offset = phoff + index * entsize
        if entsize < 4 or offset + 4 > len(data):
            return False
        if struct.unpack_from("<I", data, offset)[0] == _PT_INTERP:
            return True
    return False


_SCCACHE_REASON = (
    "sccache runs nvcc's steps itself, out of the launcher's reach; use --compiler-cache ccache "
    "or none for path-independent CUDA code"
)


def _path_problem(
    directory: Path, maps: list[tuple[Path, str]], flag_maps: Iterable[tuple[str, str]]
) -> str | None:
    for prefix, new in [*((str(root), new) for root, new in maps), *flag_maps]:
        if _FORBIDDEN & set(f"{prefix}{new}{directory}"):
            return f"the path {prefix} or {directory} holds a space or one of ':', '=', ';'"
    for root, _ in maps:
        if not root.is_absolute():
            return f"the source path {root} is not absolute"
    return None


def _toolkit_problem(toolkit: Toolkit, runner: Runner) -> str | None:
    helptext = runner.run([toolkit.nvcc, "--help"], probe=True, quick=True, check=False).output
    if "objdir-as-tempdir" not in helptext:
        return f"nvcc {toolkit.full_version} has no -objtemp (--objdir-as-tempdir)"
    for program in (toolkit.root / "bin" / "cudafe++", toolkit.root / "nvvm" / "bin" / "cicc"):
        if not is_dynamic_elf(program):
            return f"{program} is missing or not a dynamically linked program"
    return None


def no_aslr_command(runner: Runner) -> tuple[str, ...]:
    """``(setarch, "-R")`` when setarch exists and the kernel lets this process turn address
    randomisation off for its child (Docker's default seccomp profile refuses it); else ()."""
    setarch = shutil.which("setarch")
    if setarch is None:
        return ()
    probe = runner.run([setarch, "-R", setarch, "--version"], probe=True, quick=True, check=False)
    return (setarch, "-R") if probe.returncode == 0 else ()


def _canonical_problem(work: Path, directory: Path, roots: Iterable[Path]) -> str | None:
    for root in roots:
        if not root.is_relative_to(work):
            return f"the source tree {root} lies outside the work directory {work}"
    if work.is_relative_to(directory) or directory.is_relative_to(work):
        return f"the work directory {work} and {directory} lie inside one another"
    if _FORBIDDEN & set(str(directory)):
        return f"the path {directory} holds a space or one of ':', '=', ';'"
    if not sys.executable:
        return "the path of this Python interpreter is unknown"
    return None


def canonical_path(
    toolkit: Toolkit, work: Path, directory: Path, roots: Iterable[Path], runner: Runner
) -> tuple[CanonicalPath | None, str | None]:
    """How nvcc can see ``work`` at ``directory``, or why it cannot (the reason)."""
    problem = _canonical_problem(work, directory, roots)
    if problem is not None:
        return None, problem
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None:
        return None, "unshare or mount (util-linux) is not installed"
    # The namespace and the bind mount the launcher needs, tried on a directory that exists.
    probe = runner.run(
        [unshare, "-rm", "--", mount, "--bind", toolkit.root, toolkit.root],
        probe=True,
        quick=True,
        check=False,
    )
    if probe.returncode != 0:
        line = probe.output.strip().splitlines()[:1] or [f"exit status {probe.returncode}"]
        return None, (
            f"this machine refuses an unprivileged mount namespace (unshare -rm: {line[0]}); "
            "in a container, allow user namespaces (e.g. docker run --security-opt "
            "seccomp=unconfined) or build at one fixed work-directory path"
        )
    canonical = CanonicalPath(
        work=work, directory=directory, unshare=unshare, mount=mount, python=sys.executable
    )
    return canonical, None


def plan_nvcc_launcher(
    toolkit: Toolkit,
    directory: Path,
    maps: list[tuple[Path, str]],
    compiler: Path | None,
    runner: Runner,
    *,
    flag_maps: tuple[tuple[str, str], ...] = (),
    sccache: bool = False,
    canonical: tuple[Path, Path] | None = None,
) -> tuple[NvccLauncher | None, Reproducibility]:
    """The launcher for this toolkit and these source roots, or why there can be none.

    ``canonical``: the work directory and the directory nvcc should see it at. Without one
    (or where the machine refuses the namespace) the launcher still keeps PIDs and the
    internal-linkage hashes out of the objects, but the build is not recorded as
    path-independent: the PTX of some kernels follows the work directory's path length.

    ``flag_maps``: what the host prefix maps carry instead of ``maps`` (their relative forms
    under ccache included).

    ``sccache``: sccache is the compiler cache. It runs nvcc's steps itself (from
    ``nvcc --dryrun``), so neither the preloaded library nor ``-objtemp`` reaches them: given
    ``-objtemp``, sccache 0.16.0 reports success without writing the object, and without it the
    device code of two work directories differs (measured with verify-reproducible on the
    fixture: the internal-linkage names in both fatbin entries).
    """
    if sccache:
        reason: str | None = _SCCACHE_REASON
    elif compiler is None:
        reason = "no host C compiler is known to build the path-map library"
    else:
        reason = _path_problem(directory, maps, flag_maps) or _toolkit_problem(toolkit, runner)
    if reason is not None or compiler is None:
        return None, Reproducibility(path_independent=False, method=None, reason=reason)
    ordered = tuple(sorted(maps, key=lambda pair: len(str(pair[0])), reverse=True))
    no_aslr = no_aslr_command(runner)
    namespace, why_not = (
        (None, "no work directory was given for a canonical path")
        if canonical is None
        else canonical_path(toolkit, *canonical, (root for root, _ in maps), runner)
    )
    launcher = NvccLauncher(
        directory=directory,
        compiler=compiler,
        maps=ordered,
        flag_maps=flag_maps,
        no_aslr=no_aslr,
        canonical=namespace,
    )
    method = METHOD + (" + setarch -R" if no_aslr else "")
    if namespace is not None:
        method += " + work directory at a canonical path (mount namespace)"
    record = Reproducibility(
        path_independent=namespace is not None,
        method=method,
        reason=None
        if namespace is not None
        else f"{why_not}, so the PTX of some kernels "
        "follows the length of the work directory's path",
        no_aslr=bool(no_aslr),
        canonical_path=None if namespace is None else str(namespace.directory),
    )
    return launcher, record


def install_nvcc_launcher(launcher: NvccLauncher, runner: Runner) -> None:
    """Write the launcher script (and the canonical-path helper it runs, with its empty mount
    point) and build the preloaded library (a dry run only says so)."""
    source = resources.files("build_tools") / "resources" / "pathmap.c"
    with resources.as_file(source) as path:
        if not runner.dry_run:
            launcher.directory.mkdir(parents=True, exist_ok=True)
            if launcher.canonical is not None:
                launcher.canonical.directory.mkdir(parents=True, exist_ok=True)
                helper = resources.files("build_tools") / "toolkit" / "canonical.py"
                launcher.helper.write_text(helper.read_text(encoding="utf-8"))
            launcher.script.write_text(launcher.script_text())
            launcher.script.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP)
        runner.run(
            [
                launcher.compiler,
                *("-x", "c", "-shared", "-fPIC", "-O2"),
                *("-o", launcher.library, path),
            ],
            what="build the nvcc path-map library",
            quick=True,
        )
