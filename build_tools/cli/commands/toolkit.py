"""``toolkit install|list|remove``: CUDA toolkits in the user cache, without root."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from build_tools.cli.commands.common import print_json
from build_tools.console import Row, reporter
from build_tools.paths import default_cache_dir
from build_tools.runner import Runner
from build_tools.toolkit import (
    InstalledToolkit,
    Provider,
    Toolkit,
    ToolkitCache,
    default_provider,
    install_toolkit,
    list_installed,
    normalize_cuda_version,
    remove_toolkits,
)

__all__ = ["register"]

DESCRIPTION = """\
Install, list and remove CUDA toolkits in the user cache. No root, no system packages: each
toolkit is assembled from public packages into its own directory and verified by compiling and
linking a kernel before it counts as installed."""

EPILOG = """\
providers (chosen by version unless --toolkit-provider says otherwise):
  debian   CUDA 12.4.1 from Debian trixie's non-free .debs (apt-get download under a private
           apt configuration that reuses this machine's Debian mirror, dpkg-deb -x); archs 50-90
  pypi     CUDA 13.0 from NVIDIA's wheels (nvidia-cuda-nvcc, -crt, nvidia-nvvm, -runtime,
           -cccl, nvidia-cublas); archs 75-121. PyPI has no CUDA 12 compiler.

examples:
  python -m build_tools toolkit install --cuda 12.4      # GPUs from Maxwell (5.0) up to Hopper
  python -m build_tools toolkit install --cuda 13.0      # Turing (7.5) and newer, Blackwell
  python -m build_tools toolkit list --json
  python -m build_tools toolkit remove --cuda 13.0

Use a toolkit in any CMake project with both
  -DCMAKE_CUDA_COMPILER=<path>/bin/nvcc -DCUDAToolkit_ROOT=<path>
(the second stops find_package(CUDAToolkit) from picking another toolkit on the machine)."""


def _add_cache_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help=f"cache root; toolkits live in DIR/toolkits (default: {default_cache_dir()}, "
        "or $BUILD_TOOLS_CACHE_DIR)",
    )


def _cache_dir(args: argparse.Namespace) -> Path:
    value: Path | None = args.cache_dir
    return value if value is not None else default_cache_dir()


def _provider_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--toolkit-provider", choices=("debian", "pypi"), help=help_text)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "toolkit",
        help="install, list or remove CUDA toolkits in the user cache (no root needed)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="toolkit_command", metavar="ACTION", required=True)

    install = actions.add_parser(
        "install",
        help="download, assemble and verify a CUDA toolkit (a no-op when already installed)",
        description="Download, assemble and verify a CUDA toolkit in the cache. Downloads are "
        "kept, so a later re-install does not fetch them again.",
        epilog="examples:\n"
        "  python -m build_tools toolkit install --cuda 12.4\n"
        "  python -m build_tools toolkit install --cuda 13.0 --json\n"
        "  python -m build_tools --dry-run toolkit install --cuda 12.4   # show the plan",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    install.add_argument(
        "--cuda", required=True, metavar="VERSION", help="12.4 (debian) or 13.0 (pypi)"
    )
    _provider_argument(install, "where to get it (default: debian for 12.x, pypi for 13.x)")
    _add_cache_dir(install)
    install.add_argument("--json", action="store_true", help="print the result as JSON")
    install.set_defaults(func=run_install)

    listing = actions.add_parser(
        "list",
        help="show installed toolkits: version, provider, archs, size, path",
        description="Show the toolkits installed in the cache. Interrupted installs never "
        "appear here.",
        epilog="example:\n  python -m build_tools toolkit list --json | jq '.toolkits[].path'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_cache_dir(listing)
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(func=run_list)

    remove = actions.add_parser(
        "remove",
        help="delete an installed toolkit and its downloads",
        description="Delete an installed toolkit (all providers of that version unless "
        "--toolkit-provider is given) and, unless --keep-downloads, its downloaded packages.",
        epilog="example:\n  python -m build_tools toolkit remove --cuda 12.4 --keep-downloads",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    remove.add_argument("--cuda", required=True, metavar="VERSION", help="e.g. 12.4 or 13.0")
    _provider_argument(remove, "remove only the install from this provider")
    _add_cache_dir(remove)
    remove.add_argument(
        "--keep-downloads",
        action="store_true",
        help="keep the downloaded .deb/.whl files for a fast re-install",
    )
    remove.set_defaults(func=run_remove)


def _arch_text(archs: tuple[str, ...]) -> str:
    return " ".join(archs) if archs else "-"


def _size_text(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def _show(title: str, items: list[InstalledToolkit]) -> None:
    rows = [
        Row(
            [
                item.toolkit.full_version,
                item.toolkit.provider,
                _arch_text(item.toolkit.sass_archs),
                _arch_text(item.toolkit.ptx_archs),
                _size_text(item.size_bytes()),
            ]
        )
        for item in items
    ]
    reporter.table(title, ["CUDA", "provider", "SASS (sm_)", "PTX (compute_)", "size"], rows)
    # Paths are printed verbatim: a table or a wrapped line would cut them where they cannot be
    # copied from.
    for item in items:
        reporter.raw(f"CUDA {item.toolkit.version} ({item.toolkit.provider}): {item.toolkit.root}")


def _planned_json(toolkit: Toolkit) -> dict[str, Any]:
    return {
        "version": toolkit.version,
        "full_version": toolkit.full_version,
        "provider": toolkit.provider,
        "path": str(toolkit.root),
        "nvcc": str(toolkit.nvcc),
        "sass_archs": list(toolkit.sass_archs),
        "ptx_archs": list(toolkit.ptx_archs),
        "planned": True,
    }


def run_install(args: argparse.Namespace, runner: Runner) -> int:
    version = normalize_cuda_version(args.cuda)
    provider: Provider = args.toolkit_provider or default_provider(version)
    cache_dir = _cache_dir(args)
    toolkit = install_toolkit(version, provider, cache_dir=cache_dir, runner=runner)
    installed = ToolkitCache(cache_dir).find(version, provider)
    if installed is None:  # --dry-run: nothing was written
        if args.json:
            print_json(_planned_json(toolkit))
        return 0
    if args.json:
        print_json(installed.to_json())
    else:
        _show(f"CUDA {toolkit.version} toolkit", [installed])
        reporter.raw(
            f"use with: -DCMAKE_CUDA_COMPILER={toolkit.nvcc} -DCUDAToolkit_ROOT={toolkit.root}"
        )
    return 0


def run_list(args: argparse.Namespace, runner: Runner) -> int:
    del runner  # listing reads the cache only
    cache_dir = _cache_dir(args)
    items = list_installed(cache_dir)
    if args.json:
        print_json(
            {
                "cache_dir": str(cache_dir),
                "toolkits": [item.to_json() for item in items],
            }
        )
        return 0
    if not items:
        reporter.info(
            f"no toolkits installed in {cache_dir / 'toolkits'}; "
            "install one with: python -m build_tools toolkit install --cuda 12.4"
        )
        return 0
    _show(f"CUDA toolkits in {cache_dir / 'toolkits'}", items)
    return 0


def run_remove(args: argparse.Namespace, runner: Runner) -> int:
    version = normalize_cuda_version(args.cuda)
    provider: Provider | None = args.toolkit_provider
    removed = remove_toolkits(
        version,
        provider,
        cache_dir=_cache_dir(args),
        runner=runner,
        keep_downloads=args.keep_downloads,
    )
    if not removed:
        reporter.notice(f"CUDA {version} is not installed in {_cache_dir(args) / 'toolkits'}")
    return 0
