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

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_tools.audit import (
    ArchComparison,
    RuntimeLink,
    audit_go_binary,
    audit_install,
    audit_runtime_links,
)
from build_tools.build_plan import BuildPlan
from build_tools.console import reporter
from build_tools.gpus.inventory import Inventory
from build_tools.package import PackageResult, package_build
from build_tools.pipeline.go_alias import go_source_linked
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
    refuse_unbuildable,
    workdir_of,
)
from build_tools.pipeline.stamps import (
    Skipped,
    Stamps,
    audited_once,
    binary_facts,
    build_products,
    go_inputs,
    staging_facts,
    step_inputs,
)
from build_tools.pipeline.steps import run_steps, skip_step
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
    runtime_links: tuple[RuntimeLink, ...] = ()
    skipped: tuple[Skipped, ...] = ()  # steps an unchanged re-run did not repeat
    compiler_cache: dict[str, Any] | None = None  # the launcher and its hits during this build

    def to_json(self) -> dict[str, Any]:
        """The build summary (``build --json``)."""
        return {
            **self.plan.to_json(),
            "audit": [c.to_json() for c in self.audits],
            "go_variables": self.go_variables or {},
            "runtime_links": [link.to_json() for link in self.runtime_links],
            "package": None if self.package is None else self.package.to_json(),
            "verify": None if self.verify is None else self.verify.to_json(),
            "skipped": [s.to_json() for s in self.skipped],
            "compiler_cache": self.compiler_cache,
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
    all_steps: list[Step] = field(default_factory=list)  # the recipe's, ignoring --stop-after
    stamps: Stamps | None = None  # None under --dry-run: nothing is skipped or recorded
    skipped: list[Skipped] = field(default_factory=list)
    compiler_cache: dict[str, Any] | None = None
    complete: bool = False
    audits: list[ArchComparison] = field(default_factory=list)
    runtime_links: list[RuntimeLink] = field(default_factory=list)
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
    state.all_steps = recipe_for(state.plan.tree.generation).steps(state.plan)
    state.steps = steps_until(state.all_steps, state.settings.compile.stop_after)
    if state.on_planned is not None:
        state.on_planned(state.plan)


def _configure_and_build(state: _State) -> None:
    plan = state.frozen_plan()
    steps = [s for s in state.steps if s.phase in COMPILE_PHASES]
    if not state.runner.dry_run:
        # The staging tree is kept while the commands that fill it are the same: an unchanged
        # re-run then finds every installed file as it left it (pipeline.stamps). Otherwise
        # it is wiped: files of an earlier plan must not leak into this one.
        state.stamps = Stamps(plan)
        key = {
            "staging": str(plan.staging_dir),
            "steps": step_inputs(
                [s for s in state.all_steps if s.phase in ("configure", "install")]
            ),
        }
        if not state.stamps.matches("staging", key):
            state.stamps.drop("staging", "install", "go")
            if plan.staging_dir.exists():
                shutil.rmtree(plan.staging_dir)
            state.stamps.write("staging", key)
    if plan.nvcc_launcher is not None and steps:
        # Written at every build, before the configure steps name it as a launcher.
        install_nvcc_launcher(plan.nvcc_launcher, state.runner)
    cache = plan.options.compiler_cache
    if cache is None or state.runner.dry_run:
        run_steps(plan, steps, state.runner)
        return
    workdir = plan.options.workdir
    cache.start(state.runner, workdir)
    try:
        before = cache.stats(state.runner, workdir)
        run_steps(plan, steps, state.runner)
        after = cache.stats(state.runner, workdir)
    finally:
        cache.stop(state.runner, workdir)
    build = None if before is None or after is None else after.minus(before)
    state.compiler_cache = {
        "program": cache.kind,
        "path": str(cache.path),
        "remote": None if cache.remote is None else cache.remote.to_json(),
        "before": None if before is None else before.to_json(),
        "after": None if after is None else after.to_json(),
        "build": None if build is None else build.to_json(),
    }
    if cache.remote is not None:
        reporter.info(cache.remote.describe())
    if build is not None:
        rate = "" if build.rate is None else f" ({build.rate:.0%} hit rate)"
        reporter.info(
            f"{cache.kind}: {build.hits} compilations from the cache, {build.misses} compiled{rate}"
        )


def _install(state: _State) -> None:
    steps = [s for s in state.steps if s.phase in INSTALL_PHASES]
    first = 1 + sum(s.phase in COMPILE_PHASES for s in state.steps)
    state.complete = state.settings.compile.stop_after is None
    # The Go step runs in a link to the checkout that is the same for every work directory.
    with go_source_linked(state.frozen_plan(), dry_run=state.runner.dry_run):
        if state.stamps is None:
            run_steps(state.frozen_plan(), steps, state.runner, first_number=first)
        elif not state.complete:
            state.stamps.drop("install", "go")
            run_steps(state.frozen_plan(), steps, state.runner, first_number=first)
        else:
            _install_unless_unchanged(state, state.stamps, steps, first)


def _install_unless_unchanged(state: _State, stamps: Stamps, steps: list[Step], first: int) -> None:
    """Run the install and Go steps whose inputs changed since their stamp; skip the rest."""
    plan, runner = state.frozen_plan(), state.runner
    installs = [s for s in steps if s.phase == "install"]
    products = build_products(plan)
    recorded = {"steps": step_inputs(installs), "products": products}
    number = first
    if stamps.matches("install", {**recorded, "staging": staging_facts(plan)}):
        why = "the build trees' libraries and the staging tree are as the last install left them"
        for step in installs:
            state.skipped.append(skip_step(plan, step, number, why))
            number += 1
    else:
        stamps.drop("install")
        run_steps(plan, installs, runner, first_number=number)
        number += len(installs)
    for step in (s for s in steps if s.phase == "go"):
        inputs = go_inputs(plan, step, runner, stamps.hashes)
        binary = plan.staging_dir / "bin" / "ollama"
        if inputs is not None and stamps.matches(
            "go", {"inputs": inputs, "binary": binary_facts(binary)}
        ):
            why = "same command, ldflags, Go version, environment and source tree"
            state.skipped.append(skip_step(plan, step, number, why))
        else:
            stamps.drop("go")
            # Go refuses to overwrite a file that is not a Go binary (a damaged one, say).
            binary.unlink(missing_ok=True)
            run_steps(plan, [step], runner, first_number=number)
            if inputs is not None:
                stamps.write("go", {"inputs": inputs, "binary": binary_facts(binary)})
        number += 1
    stamps.write("install", {**recorded, "staging": staging_facts(plan)})


def _audit(state: _State) -> None:
    """The build's last gate: device code and Go variables must be what the plan says, and
    every shipped library must load the CUDA runtime from inside the package."""
    if not state.complete or state.runner.dry_run:
        return
    plan = state.frozen_plan()
    recipe = recipe_for(plan.tree.generation)
    with reporter.step("Audit the device code and Go variables against the plan"):
        state.audits = audit_install(plan.staging_dir, plan.arch_plan.archs)
        state.runtime_links = audit_runtime_links(plan.staging_dir)
        state.go_variables = audited_once(
            state.stamps,
            plan.staging_dir / "bin" / "ollama",
            recipe.go_variables(plan),
            audit_go_binary,
        )
    for comparison in state.audits:
        reporter.info(comparison.describe())
    for link in state.runtime_links:
        reporter.info(link.describe())
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
        hashes=None if state.stamps is None else state.stamps.hashes,
        artifact_index=None if state.stamps is None else state.stamps.dir / "artifacts.json",
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
    refuse_unbuildable(settings)
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
        runtime_links=tuple(state.runtime_links),
        go_variables=state.go_variables,
        package=state.package,
        verify=state.verify,
        skipped=tuple(state.skipped),
        compiler_cache=state.compiler_cache,
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
    refuse_unbuildable(settings)
    check_directory(Path(settings.package.dist_dir).resolve(), "--dist-dir")
    with using_workdir(workdir_of(settings), runner):
        inventory = gather_inventory(settings.inventory, runner, settings.arch)
        preview = preview_build(settings, inventory, runner)
    if on_planned is not None:
        on_planned(preview.planned.arch_plan)
    return preview
