"""``plan``: the inventory and arch options to a validated CUDA architecture plan."""

from __future__ import annotations

from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.pipeline.inputs import (
    arch_request,
    driver_of,
    gather_inventory,
    target_of,
    toolkit_request,
)
from build_tools.planning.arch_plan import ArchPlan, make_arch_plan
from build_tools.runner import Runner
from build_tools.settings.commands import PlanSettings
from build_tools.toolkit import resolve_toolkit

__all__ = ["compute_plan", "run", "show_plan"]


def compute_plan(settings: PlanSettings, runner: Runner) -> ArchPlan:
    """Gather the impure inputs (inventory, toolkit), then call the pure planner."""
    inventory = gather_inventory(settings.inventory, runner, settings.arch)
    requested = toolkit_request(settings.toolkit)
    generation, ref = target_of(settings.target)
    request = arch_request(
        settings.arch,
        requested.cuda_version,
        generation=generation,
        ref=ref,
        driver=driver_of(settings.driver, inventory),
    )
    if requested.cuda_version is not None:
        # Check against the built-in table first: an impossible plan must fail in one line
        # before a toolkit download, not after it.
        make_arch_plan(request, inventory, None)
    toolkit = resolve_toolkit(requested, runner, install=True)
    return make_arch_plan(request, inventory, toolkit)


def show_plan(plan: ArchPlan) -> None:
    for notice in (*plan.inventory.notices, *plan.notices):
        reporter.notice(notice)
    arch_rows = [
        Row([arch.name, "yes" if arch.sass else "-", "yes" if arch.ptx else "-"])
        for arch in plan.archs
    ]
    reporter.table(
        f"CMAKE_CUDA_ARCHITECTURES={plan.cuda_architectures}  (CUDA {plan.cuda_version})",
        ["arch", "SASS", "PTX"],
        arch_rows,
    )
    if plan.coverage:
        rows = [
            Row(
                [
                    str(c.gpu.index),
                    c.gpu.name,
                    c.gpu.compute_capability,
                    c.cuda,
                    "uses" if c.ollama_uses else "skips",
                    c.reason,
                ],
                style=None if c.problem is None else "yellow",
            )
            for c in plan.coverage
        ]
        reporter.table(
            f"Coverage under Ollama {plan.rule.generation.name} ({plan.rule.describe()})",
            ["#", "GPU", "cc", "CUDA", "Ollama", "why"],
            rows,
        )
    for warning in plan.warnings:
        reporter.warning(warning)


def run(settings: PlanSettings, context: Context) -> int:
    plan = compute_plan(settings, context.runner)
    if context.json:
        print_json(plan.to_json())
    else:
        show_plan(plan)
    return 0
