"""Provider ``debian``: CUDA 12.4.1 from Debian trixie's non-free packages, unpacked, not installed.

No CUDA 12 compiler exists on PyPI (the cu12 "nvcc" wheels hold only ptxas), and trixie's
12.4.1 is the newest CUDA 12 reachable without NVIDIA's servers. The ``.deb`` files are fetched
with ``apt-get download`` under a private apt configuration (apt.py), unpacked with
``dpkg-deb -x`` (only the needed parts of nvidia-cuda-dev: debfile.py) into the staging
directory and rearranged into the CUDA layout. Debian's CCCL is
2.5.0, newer than the 2.3.2 that CUDA 12.4 shipped, so CCCL comes from the matching PyPI wheel.
"""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

from build_tools.console import reporter
from build_tools.errors import ToolkitError
from build_tools.runner import Runner
from build_tools.toolkit.apt import DEFAULT_KEYRING, PrivateApt, find_debian_mirror
from build_tools.toolkit.debfile import extract_members
from build_tools.toolkit.layout import move_into
from build_tools.toolkit.model import Provider
from build_tools.toolkit.pins import DEBIAN_SPECS
from build_tools.toolkit.spec import ToolkitSpec
from build_tools.toolkit.wheels import extract_wheel, pip_download

__all__ = ["SPECS", "DebianSource", "deb_filename"]

SPECS = DEBIAN_SPECS

_MULTIARCH = "usr/lib/x86_64-linux-gnu"
_TOOLKIT = "usr/lib/nvidia-cuda-toolkit"
_BIN_TOOLS = (
    "ptxas",
    "fatbinary",
    "nvlink",
    "cudafe++",
    "bin2c",
    "cuobjdump",
    "nvdisasm",
    "nvprune",
    "cu++filt",
    "__nvcc_device_query",
)
# From the multiarch dir only what nvcc's defaults and CMake's CUDA::cudart/cublas need; the dev
# package's other 2 GB (static cuBLAS/cuFFT/NPP ...) are dropped.
_LIB64_GLOBS = (
    "libcudart.so*",
    "libcudart_static.a",
    "libcudadevrt.a",
    "libculibos.a",
    "libcublas.so*",
    "libcublasLt.so*",
)


# Packages of which only these members are unpacked (see debfile.py for why).
_PARTS: dict[str, tuple[str, ...]] = {
    "nvidia-cuda-dev": (
        "./usr/include/*",
        *(f"./{_MULTIARCH}/{glob}" for glob in (*_LIB64_GLOBS, "libnvvm.so*")),
        f"./{_MULTIARCH}/stubs/libcublas*.so",
    ),
}


def deb_filename(package: str) -> str:
    """``name=version`` -> the file ``apt-get download`` writes (``:`` of an epoch as %3a)."""
    name, _, version = package.partition("=")
    return f"{name}_{version.replace(':', '%3a')}_amd64.deb"


def _split(spec: ToolkitSpec) -> tuple[list[str], list[str]]:
    debs = [p for p in spec.packages if "==" not in p]
    wheels = [p for p in spec.packages if "==" in p]
    return debs, wheels


class DebianSource:
    name: Provider = "debian"

    def spec_for(self, version: str, *, downloads: Path, runner: Runner) -> ToolkitSpec:
        del downloads, runner  # the interface passes them for pypi's cu12 explanation
        spec = SPECS.get(version)
        if spec is None:
            raise ToolkitError(
                f"the debian provider has only CUDA {', '.join(SPECS)}, not {version}",
                hint="Debian trixie ships CUDA 12.4.1; for newer GPUs use '--cuda 13.0'",
            )
        if platform.machine() not in {"x86_64", "AMD64"}:
            raise ToolkitError(
                f"the debian provider is pinned to amd64 packages; this is {platform.machine()}",
                hint="use --toolkit-provider system with an installed CUDA toolkit",
            )
        return spec

    def fetch(self, spec: ToolkitSpec, downloads: Path, runner: Runner) -> None:
        debs, wheels = _split(spec)
        missing = [p for p in debs if not (downloads / deb_filename(p)).is_file()]
        if missing:
            mirror, keyring = find_debian_mirror()
            keyring = keyring if keyring is not None and keyring.is_file() else DEFAULT_KEYRING
            if not keyring.is_file():
                raise ToolkitError(
                    f"no Debian archive keyring at {keyring} to verify the packages",
                    hint="install it: apt-get install debian-archive-keyring",
                )
            apt = PrivateApt(downloads.parent / "apt", mirror=mirror, keyring=keyring)
            # Download into a scratch dir and move complete files into place, so a killed
            # download never leaves a truncated .deb that would be trusted next time.
            partial = downloads / ".partial"
            shutil.rmtree(partial, ignore_errors=True)
            apt.download(missing, partial, runner)
            for package in missing:
                name = deb_filename(package)
                if not (partial / name).is_file():
                    raise ToolkitError(f"apt-get download did not produce {name}")
                move_into(partial / name, downloads / name)
            shutil.rmtree(partial, ignore_errors=True)
        pip_download(wheels, downloads, runner)

    def assemble(self, spec: ToolkitSpec, downloads: Path, root: Path, runner: Runner) -> None:
        debs, wheels = _split(spec)
        unpack = root / ".unpack"
        for package in debs:
            deb = downloads / deb_filename(package)
            size_mb = deb.stat().st_size / 1e6
            patterns = _PARTS.get(package.partition("=")[0])
            with reporter.step(f"unpack {deb.name} ({size_mb:,.0f} MB)"):
                if patterns is None:
                    runner.run(["dpkg-deb", "-x", deb, unpack], what=f"dpkg-deb -x {deb.name}")
                else:
                    count = extract_members(deb, unpack, patterns)
                    reporter.info(f"  {count} files taken, the static libraries left out")
        _arrange(unpack, root)
        shutil.rmtree(unpack)
        for wheel in pip_download(wheels, downloads, runner):
            extract_wheel(
                wheel, root, prefix="nvidia/cuda_cccl/include/", rename=lambda rel: "include/" + rel
            )


def _arrange(unpack: Path, root: Path) -> None:
    """Move the unpacked Debian tree into the CUDA layout (renames: no copying)."""
    toolkit = unpack / _TOOLKIT
    multiarch = unpack / _MULTIARCH
    # bin/nvcc must be the real binary (not Debian's /usr/bin/nvcc wrapper script, not a
    # symlink): nvcc finds nvcc.profile next to its resolved path.
    move_into(toolkit / "bin" / "nvcc", root / "bin" / "nvcc")
    move_into(toolkit / "bin" / "crt", root / "bin" / "crt")
    for tool in _BIN_TOOLS:
        if (unpack / "usr" / "bin" / tool).exists():
            move_into(unpack / "usr" / "bin" / tool, root / "bin" / tool)
    move_into(toolkit / "bin" / "cicc", root / "nvvm" / "bin" / "cicc")
    move_into(toolkit / "libdevice", root / "nvvm" / "libdevice")
    move_into(unpack / "usr" / "include", root / "include")
    for lib in sorted(multiarch.glob("libnvvm.so*")):
        move_into(lib, root / "nvvm" / "lib64" / lib.name)
    for pattern in _LIB64_GLOBS:
        for lib in sorted(multiarch.glob(pattern)):
            move_into(lib, root / "lib64" / lib.name)
    for stub in sorted((multiarch / "stubs").glob("libcublas*.so")):
        move_into(stub, root / "lib64" / "stubs" / stub.name)
