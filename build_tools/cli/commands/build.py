"""``build`` (also the default command): run the build pipeline and show what it made."""

from __future__ import annotations

import dataclasses

from build_tools.build_plan import BuildPlan
from build_tools.cli.commands.plan import show_plan
from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.pipeline.prepare import source_is_fetched
from build_tools.pipeline.run import run_build, run_preview
from build_tools.pipeline.summary import write_build_summary
from build_tools.planning.cpu_variants import CpuVariantRequest
from build_tools.settings.commands import BuildSettings
from build_tools.verify.show import show_report

__all__ = ["release_defaults", "run", "show_build_plan"]


def show_build_plan(plan: BuildPlan) -> None:
    """The arch plan, then every GPU backend: on with the archs it compiles, or off and why."""
    show_plan(plan.arch_plan)
    rows = [Row([b.name, "yes" if b.enabled else "no", b.archs or b.reason]) for b in plan.backends]
    reporter.table("Backends", ["backend", "built", "archs or reason"], rows)


def release_defaults(settings: BuildSettings, context: Context) -> BuildSettings:
    """A build from a --profile is a release (CI) build: ``--cpu-variants auto`` means all."""
    compile_settings = settings.compile
    if context.options.profile is None or compile_settings.cpu_variants.mode != "auto":
        return settings
    every = CpuVariantRequest("all")
    return dataclasses.replace(
        settings, compile=dataclasses.replace(compile_settings, cpu_variants=every)
    )


def run(settings: BuildSettings, context: Context) -> int:
    settings = release_defaults(settings, context)
    runner = context.runner
    if settings.compile.with_vulkan:
        reporter.warning(
            "--with-vulkan: a Vulkan backend lets Ollama use GPUs that the CUDA plan excluded "
            "(the Tesla M10 would come back through Vulkan)"
        )
    if runner.dry_run and not source_is_fetched(settings):
        preview = run_preview(settings, runner, on_planned=None if context.json else show_plan)
        if context.json:
            print_json(preview.to_json())
        return 0
    result = run_build(
        settings,
        runner,
        on_planned=None if context.json else show_build_plan,
    )
    if result.complete and not runner.dry_run:  # GitHub Actions: $GITHUB_STEP_SUMMARY
        write_build_summary(result, context.options, context.environ)
    if result.verify is not None and not context.json:
        show_report(result.verify)
    if context.json:
        print_json(result.to_json())
    elif not runner.dry_run:
        plan = result.plan
        reporter.info(f"Ollama {plan.checkout.version} installed in {plan.staging_dir}")
        for artifact in result.package.artifacts if result.package is not None else ():
            reporter.info(f"{artifact.kind}: {artifact.path}")
        reporter.info(f"logs: {plan.log_dir}")
    if result.verify is not None:
        result.verify.raise_if_failed()  # exit 13, naming the GPU
    return 0
