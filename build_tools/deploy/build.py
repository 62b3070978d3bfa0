"""``deploy build``: one pipeline build per group, each for exactly its group's GPUs.

Each group gets the settings a ``build --profile`` of its own would: the group's GPUs as the
inventory (a file written next to its work directory), no ``--arch`` (so the plan is the
group's exact compute capabilities), the toolkit the deploy plan chose for it (``--cuda``), its
own work directory ``<workdir>/deploy/<group>`` and dist directory ``<dist-dir>/<group>``.
:func:`~build_tools.pipeline.run.run_build` then fetches, plans, builds, audits the device
code against that group's plan (exit 7 on a difference) and packages. The audited staging tree
is installed into ``<prefix>/<group>``, replacing an earlier install only once the copy is
complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from build_tools.console import reporter
from build_tools.deploy.plan import DeployPlan, Group, make_deploy_plan
from build_tools.errors import ConfigurationError, ToolkitError
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.pipeline.run import BuildResult, run_build
from build_tools.runner import Runner
from build_tools.settings.commands import BuildSettings
from build_tools.settings.deploy import (
    DEFAULT_BASE_PORT,
    DEFAULT_ROUTER_PORT,
    DeployBuildSettings,
)
from build_tools.settings.groups import (
    ArchSettings,
    InventorySettings,
    ToolkitSettings,
    WorkdirSettings,
)
from build_tools.source.ollama_tree import read_tree

__all__ = ["GroupBuild", "build_groups", "group_build_settings"]


@dataclass(frozen=True, kw_only=True)
class GroupBuild:
    group: Group
    install: Path
    result: BuildResult

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.group.name,
            "uuids": list(self.group.uuids),
            "install": str(self.install),
            "build": self.result.to_json(),
        }


def _target(
    settings: DeployBuildSettings,
) -> tuple[Generation, OllamaVersion | None, set[int] | None]:
    """What the plan is for: the tree's generation and CUDA presets (--source-dir), else the
    release --ref names, else the newest generation."""
    source_dir = settings.source.source_dir
    if source_dir is not None:
        tree = read_tree(source_dir)
        majors = {m for m in range(10, 20) if tree.preset_for(m) is not None}
        return tree.generation, None, majors
    try:
        ref = OllamaVersion.parse(settings.source.ref)
    except ConfigurationError:
        reporter.notice(
            f"--ref {settings.source.ref} is not a release tag: the groups' toolkits are chosen "
            f"for Ollama {registry().newest().name}; pass a release tag if it is another"
        )
        return registry().newest(), None, None
    return registry().for_version(ref), ref, None


def deploy_plan_for_build(settings: DeployBuildSettings, runner: Runner) -> DeployPlan:
    from build_tools.pipeline.inputs import gather_inventory

    inventory = gather_inventory(settings.grouping.inventory, runner)
    generation, ref, preset_majors = _target(settings)
    grouping = settings.grouping
    return make_deploy_plan(
        inventory,
        specs=grouping.groups,
        routes=grouping.models,
        default_group=grouping.default_group,
        ptx=grouping.ptx,
        generation=generation,
        ref=ref,
        base_port=DEFAULT_BASE_PORT,
        router_port=DEFAULT_ROUTER_PORT,
        listen="127.0.0.1",
        preset_majors=preset_majors,
        target_driver=grouping.driver.target_driver,
    )


def _work_root(settings: DeployBuildSettings) -> Path:
    chosen = settings.workdir.workdir or settings.cache.cache_dir / "work"
    return chosen.resolve() / "deploy"


def group_build_settings(
    settings: DeployBuildSettings, group: Group, inventory_file: Path
) -> BuildSettings:
    """The build settings of one group: what `build` would get from a profile of its own."""
    package = settings.package
    return BuildSettings(
        source=settings.source,
        llama_cpp=settings.llama_cpp,
        inventory=InventorySettings(inventory=inventory_file),
        driver=settings.grouping.driver,
        arch=ArchSettings(ptx=settings.grouping.ptx),
        toolkit=ToolkitSettings(cuda=group.cuda_version, cache=settings.cache),
        patches=settings.patches,
        workdir=WorkdirSettings(workdir=_work_root(settings) / group.name),
        compile=settings.compile,
        verify=False,
        package=replace(package, dist_dir=Path(package.dist_dir) / group.name),
    )


def _group_inventory(plan: DeployPlan, group: Group, directory: Path) -> Path:
    inventory = replace(plan.inventory, gpus=group.gpus, notices=())
    path = directory / f"inventory-{group.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(inventory.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def install_tree(staging: Path, target: Path, runner: Runner) -> None:
    """Copy ``staging`` to ``target``; an existing ``target`` is replaced only after the copy
    is complete, so a failed copy leaves the previous install working."""
    if runner.dry_run:
        reporter.info(f"would install {staging} into {target}")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(f".{target.name}.new")
    old = target.with_name(f".{target.name}.old")
    for leftover in (fresh, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    shutil.copytree(staging, fresh, symlinks=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    if old.exists():
        shutil.rmtree(old)


def build_groups(settings: DeployBuildSettings, runner: Runner, *, show: bool) -> list[GroupBuild]:
    if settings.prefix.startswith("%h"):
        raise ConfigurationError(
            "deploy build installs into a real directory: write --prefix without %h",
            hint="e.g. --prefix ~/ollama-bt (render takes %h/ollama-bt for --user units)",
        )
    plan = deploy_plan_for_build(settings, runner)
    scratch = Path(tempfile.mkdtemp(prefix="ollama-bt-inventories-")) if runner.dry_run else None
    inventories = scratch or _work_root(settings)
    builds = []
    try:
        for group in plan.groups:
            gpus = ",".join(str(g.index) for g in group.gpus)
            if show:
                reporter.info(
                    f"group {group.name}: GPUs {gpus}, archs {group.arch_plan.cuda_architectures}, "
                    f"CUDA {group.cuda_version}"
                )
            build_settings = group_build_settings(
                settings, group, _group_inventory(plan, group, inventories)
            )
            try:
                result = run_build(build_settings, runner)
            except ToolkitError as error:
                raise ToolkitError(
                    f"group {group.name}: {error.message}",
                    hint="pass --ref with the release tag being built, so that the deploy plan "
                    "picks toolkits this release has presets for",
                ) from None
            install = Path(settings.prefix).expanduser() / group.name
            if result.complete:
                install_tree(result.plan.staging_dir, install, runner)
            if show and not runner.dry_run:
                audit = "audit ok" if all(c.ok for c in result.audits) else "audit FAILED"
                reporter.info(f"group {group.name}: {audit}; installed in {install}")
            builds.append(GroupBuild(group=group, install=install, result=result))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return builds
