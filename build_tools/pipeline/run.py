"""A whole build as an explicit list of stages, run in the order ``--help`` shows:

source -> plan -> patch -> configure/build -> install -> audit -> package -> verify

``source``, ``plan`` and ``patch`` (:mod:`.prepare`) end in the frozen
:class:`~build_tools.build_plan.BuildPlan`; ``configure/build`` runs the recipe's configure,
cpu and cuda steps; ``install`` its install and go steps, into the staging tree; ``audit``
compares the device code and Go variables with the plan; ``package`` writes the artifacts;
``verify`` runs the result when asked. :func:`run_build` executes :data:`STAGES` one after the
other - that tuple is the order - and returns a :class:`BuildResult`, which ``build``,
``verify-reproducible`` and the CI step summary all read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_tools.audit import ArchComparison, audit_go_binary, audit_install
from build_tools.build_plan import BuildPlan
from build_tools.console import reporter
from build_tools.gpus.inventory import Inventory
from build_tools.package import PackageResult, package_build
from build_tools.pipeline.inputs import check_directory, gather_inventory, using_workdir
from build_tools.pipeline.prepare import (
    Fetched,
    Patched,
    Planned,
    Preview,
    fetch_source,
    make_build_plan,
    patch_sources,
    plan_build,
    preview_build,
    workdir_of,
)
from build_tools.pipeline.steps import run_steps
from build_tools.planning.arch_plan import ArchPlan
from build_tools.recipes import recipe_for
from build_tools.recipes.base import Step, steps_until
from build_tools.runner import Runner
from build_tools.settings.commands import BuildSettings
from build_tools.settings.groups import Phase
from build_tools.toolkit.pathmap import install_nvcc_launcher
from build_tools.verify import VerifyReport, verify_install

__all__ = ["STAGES", "BuildResult", "run_build", "run_preview"]

COMPILE_PHASES: tuple[Phase, ...] = ("configure", "cpu", "cuda")
INSTALL_PHASES: tuple[Phase, ...] = ("install", "go")


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    plan: BuildPlan
    complete: bool  # False after --stop-after: nothing was audited or packaged
    stages: tuple[str, ...]  # the stages run_build went through, in order
    audits: tuple[ArchComparison, ...] = ()
    go_variables: dict[str, str] | None = None
    package: PackageResult | None = None
    verify: VerifyReport | None = None

    def to_json(self) -> dict[str, Any]:
        """The build summary (``build --json``)."""
        return {
            **self.plan.to_json(),
            "audit": [c.to_json() for c in self.audits],
            "go_variables": self.go_variables or {},
            "package": None if self.package is None else self.package.to_json(),
            "verify": None if self.verify is None else self.verify.to_json(),
        }


@dataclass
class _State:
    """What the stages hand on to each other while a build runs."""

    settings: BuildSettings
    runner: Runner
    on_planned: Callable[[BuildPlan], None] | None
    inventory: Inventory | None = None
    fetched: Fetched | None = None
    planned: Planned | None = None
    patched: Patched | None = None
    plan: BuildPlan | None = None
    steps: list[Step] = field(default_factory=list)
    complete: bool = False
    audits: list[ArchComparison] = field(default_factory=list)
    go_variables: dict[str, str] | None = None
    package: PackageResult | None = None
    verify: VerifyReport | None = None
    ran: list[str] = field(default_factory=list)

    def frozen_plan(self) -> BuildPlan:
        assert self.plan is not None, "the patch stage freezes the plan"
        return self.plan


def _source(state: _State) -> None:
    # The inventory is read first: a bad inventory file fails before anything is fetched.
    state.inventory = gather_inventory(state.settings.inventory, state.runner, state.settings.arch)
    state.fetched = fetch_source(state.settings, state.runner)


def _plan(state: _State) -> None:
    assert state.fetched is not None
    assert state.inventory is not None
    state.planned = plan_build(state.settings, state.fetched, state.inventory, state.runner)


def _patch(state: _State) -> None:
    assert state.fetched is not None
    assert state.planned is not None
    state.patched = patch_sources(state.settings, state.fetched, state.planned, state.runner)
    state.plan = make_build_plan(
        state.settings, state.fetched, state.planned, state.patched, state.runner
    )
    state.steps = steps_until(
        recipe_for(state.plan.tree.generation).steps(state.plan),
        state.settings.compile.stop_after,
    )
    if state.on_planned is not None:
        state.on_planned(state.plan)


def _configure_and_build(state: _State) -> None:
    steps = [s for s in state.steps if s.phase in COMPILE_PHASES]
    plan = state.frozen_plan()
    if plan.nvcc_launcher is not None and steps:
        # Written at every build, before the configure steps name it as a launcher.
        install_nvcc_launcher(plan.nvcc_launcher, state.runner)
    run_steps(plan, steps, state.runner, fresh_staging=True)


def _install(state: _State) -> None:
    steps = [s for s in state.steps if s.phase in INSTALL_PHASES]
    first = 1 + sum(s.phase in COMPILE_PHASES for s in state.steps)
    run_steps(state.frozen_plan(), steps, state.runner, fresh_staging=False, first_number=first)
    state.complete = state.settings.compile.stop_after is None


def _audit(state: _State) -> None:
    """The build's last gate: device code and Go variables must be what the plan says."""
    if not state.complete or state.runner.dry_run:
        return
    plan = state.frozen_plan()
    recipe = recipe_for(plan.tree.generation)
    with reporter.step("Audit the device code and Go variables against the plan"):
        state.audits = audit_install(plan.staging_dir, plan.arch_plan.archs)
        state.go_variables = audit_go_binary(
            plan.staging_dir / "bin" / "ollama", recipe.go_variables(plan)
        )
    for comparison in state.audits:
        reporter.info(comparison.describe())
    shown = ", ".join(f"{name.rsplit('/', 1)[-1]}={v}" for name, v in state.go_variables.items())
    reporter.info(f"bin/ollama: {shown}")


def _package(state: _State) -> None:
    if not state.complete:
        return
    package = state.settings.package
    state.package = package_build(  # under --dry-run: says what it would write
        state.frozen_plan(),
        state.audits,
        formats=package.formats,
        compress=package.compress,
        dist_dir=Path(package.dist_dir).resolve(),
        source_date_epoch=package.source_date_epoch,
        runner=state.runner,
    )


def _verify(state: _State) -> None:
    if not (state.complete and state.settings.verify) or state.runner.dry_run:
        return
    plan = state.frozen_plan()
    state.verify = verify_install(plan.staging_dir, plan.arch_plan, state.runner)


# The build, in order. BUILD_STAGES (pipeline.order, shown by --help) must name these.
STAGES: tuple[tuple[str, Callable[[_State], None]], ...] = (
    ("source", _source),
    ("plan", _plan),
    ("patch", _patch),
    ("configure/build", _configure_and_build),
    ("install", _install),
    ("audit", _audit),
    ("package", _package),
    ("verify", _verify),
)


def run_build(
    settings: BuildSettings,
    runner: Runner,
    *,
    on_planned: Callable[[BuildPlan], None] | None = None,
) -> BuildResult:
    """Run :data:`STAGES` in order; ``on_planned`` sees the frozen plan before anything is
    compiled (``build`` shows it)."""
    state = _State(settings=settings, runner=runner, on_planned=on_planned)
    check_directory(Path(settings.package.dist_dir).resolve(), "--dist-dir")
    with using_workdir(workdir_of(settings), runner):
        for name, stage in STAGES:
            stage(state)
            state.ran.append(name)
    return BuildResult(
        plan=state.frozen_plan(),
        complete=state.complete,
        stages=tuple(state.ran),
        audits=tuple(state.audits),
        go_variables=state.go_variables,
        package=state.package,
        verify=state.verify,
    )


def run_preview(
    settings: BuildSettings,
    runner: Runner,
    *,
    on_planned: Callable[[ArchPlan], None] | None = None,
) -> Preview:
    """A dry run on a machine where the source was never fetched: ``source`` prints the fetch,
    ``plan`` plans for the tag's generation; the later stages need the tree and are skipped."""
    assert runner.dry_run, "only a dry run can plan without the tree"
    check_directory(Path(settings.package.dist_dir).resolve(), "--dist-dir")
    with using_workdir(workdir_of(settings), runner):
        inventory = gather_inventory(settings.inventory, runner, settings.arch)
        preview = preview_build(settings, inventory, runner)
    if on_planned is not None:
        on_planned(preview.planned.arch_plan)
    return preview
