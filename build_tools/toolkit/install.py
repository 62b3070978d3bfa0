"""Installing and removing cached toolkits: download, assemble in staging, verify, commit."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from build_tools.console import reporter
from build_tools.errors import ToolkitError
from build_tools.runner import Runner
from build_tools.toolkit.cache import InstalledToolkit, ToolkitCache
from build_tools.toolkit.debian import DebianSource
from build_tools.toolkit.hostcc import check_host_compiler
from build_tools.toolkit.layout import finish_layout
from build_tools.toolkit.model import Provider, Toolkit
from build_tools.toolkit.nvcc import probe_toolkit
from build_tools.toolkit.pypi import PypiSource
from build_tools.toolkit.selftest import verify_toolkit
from build_tools.toolkit.spec import ToolkitSource
from build_tools.toolkit.stub import build_libcuda_stub

__all__ = ["SOURCES", "install_toolkit", "list_installed", "remove_toolkits"]

SOURCES: dict[Provider, ToolkitSource] = {"pypi": PypiSource(), "debian": DebianSource()}


def _source(provider: Provider) -> ToolkitSource:
    source = SOURCES.get(provider)
    if source is None:
        raise ToolkitError(
            f"the '{provider}' provider does not install toolkits",
            hint="use --cuda-home (or CUDA_HOME) to use a toolkit that is already installed",
        )
    return source


def list_installed(cache_dir: Path) -> list[InstalledToolkit]:
    """Complete installs in the cache, oldest CUDA first (staging leftovers never appear)."""
    cache = ToolkitCache(cache_dir)
    cache.check()
    return cache.installed()


def install_toolkit(
    version: str,
    provider: Provider,
    *,
    cache_dir: Path,
    runner: Runner,
    environ: Mapping[str, str] | None = None,
) -> Toolkit:
    """Install CUDA ``version`` from ``provider`` into the cache; a no-op when already there."""
    cache = ToolkitCache(cache_dir)
    cache.check()
    existing = cache.find(version, provider)
    if existing is not None:
        reporter.info(f"CUDA {version} ({provider}) is already installed: {existing.toolkit.root}")
        return existing.toolkit
    source = _source(provider)
    downloads = cache.downloads_for(version, provider)
    if runner.dry_run:
        return _planned(source, version, provider, cache, runner)
    # A version no provider can install is refused before the cache is touched.
    spec = source.spec_for(version, downloads=downloads, runner=runner)
    with cache.lock():
        existing = cache.find(version, provider)  # another process may have finished it
        if existing is not None:
            return existing.toolkit
        cache.clean_stale()
        with reporter.step(f"download CUDA {version} packages ({provider}) into {downloads}"):
            source.fetch(spec, downloads, runner)
        with cache.staging(version, provider) as stage:
            with reporter.step(f"assemble the CUDA {version} root"):
                source.assemble(spec, downloads, stage, runner)
                finish_layout(stage, cccl_subdir=spec.cccl_subdir)
            with reporter.step("generate the libcuda.so link stub from cuda.h"):
                count = build_libcuda_stub(
                    stage / "include", stage / "lib64" / "stubs" / "libcuda.so", runner
                )
                reporter.info(f"  {count} driver API symbols exported")
            env = os.environ if environ is None else environ
            host = check_host_compiler(stage, version, runner, environ=env)
            toolkit = probe_toolkit(stage, provider, runner)
            with reporter.step(f"verify: compile and link a kernel with {host.label}"):
                verify_toolkit(
                    toolkit,
                    spec,
                    runner,
                    host=host,
                    work_dir=stage,
                    log_path=cache.log_path(version, provider, "verify"),
                )
            final = cache.commit(stage, toolkit, spec.packages)
    reporter.info(f"installed CUDA {toolkit.full_version} ({provider}) at {final}")
    return replace(toolkit, root=final, nvcc=final / "bin" / "nvcc")


def _planned(
    source: ToolkitSource, version: str, provider: Provider, cache: ToolkitCache, runner: Runner
) -> Toolkit:
    """What --dry-run reports: the pinned packages and the toolkit the install would produce."""
    downloads = cache.downloads_for(version, provider)
    spec = source.spec_for(version, downloads=downloads, runner=runner)
    root = cache.root_for(version, provider)
    reporter.info(f"would install CUDA {spec.nvcc_version} ({provider}) into {root}")
    reporter.info(f"  downloading into {downloads} what is not there yet:")
    for package in spec.packages:
        reporter.info(f"    {package}")
    return Toolkit(
        version=version,
        full_version=spec.nvcc_version,
        provider=provider,
        root=root,
        nvcc=root / "bin" / "nvcc",
        sass_archs=spec.expected_sass_archs,
        ptx_archs=spec.expected_ptx_archs,
    )


def remove_toolkits(
    version: str,
    provider: Provider | None,
    *,
    cache_dir: Path,
    runner: Runner,
    keep_downloads: bool = False,
) -> list[Path]:
    """Remove the installs of ``version`` (of one provider or all), broken entries of that
    version included; returns the roots removed."""
    cache = ToolkitCache(cache_dir)
    cache.check()
    matches = [
        item
        for item in cache.installed()
        if item.toolkit.version == version and provider in (None, item.toolkit.provider)
    ]
    broken = [
        entry
        for entry in cache.broken()
        if entry.version == version and provider in (None, entry.provider)
    ]
    if runner.dry_run:
        for root in [item.toolkit.root for item in matches] + [entry.root for entry in broken]:
            reporter.info(f"would remove {root}")
        return [item.toolkit.root for item in matches] + [entry.root for entry in broken]
    removed: list[Path] = []
    with cache.lock():
        for item in matches:
            cache.remove(item.toolkit.root)
            removed.append(item.toolkit.root)
            reporter.info(f"removed CUDA {item.toolkit.full_version} ({item.toolkit.provider})")
        for entry in broken:
            cache.remove(entry.root)
            removed.append(entry.root)
            reporter.info(f"removed the broken entry {entry.root} ({entry.reason})")
        if not keep_downloads:
            for name in SOURCES if provider is None else (provider,):
                downloads = cache.downloads_for(version, name)
                if downloads.is_dir():
                    cache.remove(downloads)
                    reporter.info(f"removed downloads {downloads}")
        cache.clean_stale()
    return removed
