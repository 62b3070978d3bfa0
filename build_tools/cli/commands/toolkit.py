"""``toolkit install|list|remove``: CUDA toolkits in the user cache, without root."""

from __future__ import annotations

from typing import Any

from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.files import format_size
from build_tools.settings.commands import (
    ToolkitInstallSettings,
    ToolkitListSettings,
    ToolkitRemoveSettings,
)
from build_tools.toolkit import (
    InstalledToolkit,
    Provider,
    Toolkit,
    ToolkitCache,
    default_provider,
    install_toolkit,
    list_installed,
    remove_toolkits,
)

__all__ = ["run_install", "run_list", "run_remove"]


def _arch_text(archs: tuple[str, ...]) -> str:
    return " ".join(archs) if archs else "-"


def _show(title: str, items: list[InstalledToolkit]) -> None:
    rows = [
        Row(
            [
                item.toolkit.full_version,
                item.toolkit.provider,
                _arch_text(item.toolkit.sass_archs),
                _arch_text(item.toolkit.ptx_archs),
                format_size(item.size_bytes()),
            ]
        )
        for item in items
    ]
    reporter.table(title, ["CUDA", "provider", "SASS (sm_)", "PTX (compute_)", "size"], rows)
    # Paths are printed verbatim: a table or a wrapped line would cut them where they cannot be
    # copied from.
    for item in items:
        reporter.raw(
            f"CUDA {item.toolkit.version} ({item.toolkit.provider}): {item.toolkit.root}\n"
        )


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


def run_install(settings: ToolkitInstallSettings, context: Context) -> int:
    version = settings.cuda
    provider: Provider = settings.toolkit_provider or default_provider(version)
    cache_dir = settings.cache.cache_dir
    toolkit = install_toolkit(version, provider, cache_dir=cache_dir, runner=context.runner)
    installed = ToolkitCache(cache_dir).find(version, provider)
    if installed is None:  # --dry-run: nothing was written
        if context.json:
            print_json(_planned_json(toolkit))
        return 0
    if context.json:
        print_json(installed.to_json())
    else:
        _show(f"CUDA {toolkit.version} toolkit", [installed])
        reporter.raw(
            f"use with: -DCMAKE_CUDA_COMPILER={toolkit.nvcc} -DCUDAToolkit_ROOT={toolkit.root}\n"
        )
    return 0


def run_list(settings: ToolkitListSettings, context: Context) -> int:
    cache_dir = settings.cache.cache_dir  # listing reads the cache only
    items = list_installed(cache_dir)
    for entry in ToolkitCache(cache_dir).broken():
        reporter.notice(
            f"{entry.root} is not a usable install ({entry.reason}); remove it with "
            f"`python -m build_tools toolkit remove --cuda {entry.version}`"
        )
    if context.json:
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


def run_remove(settings: ToolkitRemoveSettings, context: Context) -> int:
    version = settings.cuda
    cache_dir = settings.cache.cache_dir
    removed = remove_toolkits(
        version,
        settings.toolkit_provider,
        cache_dir=cache_dir,
        runner=context.runner,
        keep_downloads=settings.keep_downloads,
    )
    if not removed:
        reporter.notice(f"CUDA {version} is not installed in {cache_dir / 'toolkits'}")
    return 0
