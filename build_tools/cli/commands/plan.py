"""``plan``: turn the GPU inventory and arch options into a validated CUDA architecture plan."""

from __future__ import annotations

import argparse
import os

from build_tools.cli.commands.common import (
    add_plan_arguments,
    arch_request_from_args,
    inventory_from_args,
    print_json,
)
from build_tools.console import Row, reporter
from build_tools.planning.arch_plan import ArchPlan, make_arch_plan
from build_tools.runner import Runner
from build_tools.settings import add_profile_arguments
from build_tools.toolkit import add_toolkit_arguments, resolve_toolkit, toolkit_request_from_args

__all__ = ["compute_plan", "register", "show_plan"]

EPILOG = """\
examples:
  python -m build_tools plan --exclude-arch 50            # local GPUs minus the Tesla M10
  python -m build_tools plan --inventory box.json --exclude-arch 50 --json
  python -m build_tools plan --arch preset --exclude-arch 50,52 --cuda 12.4
  python -m build_tools plan --arch 75,86 --ptx none --ref v0.6.8

The plan is checked against the CUDA toolkit that will build (its nvcc lists when found, else
a built-in table) and against the target Ollama's runtime rule: G1-G3 use every GPU above a
minimum compute capability, G4/G5 only GPUs whose exact cc is compiled in.
"""


def compute_plan(args: argparse.Namespace, runner: Runner) -> ArchPlan:
    """Gather the impure inputs (inventory, toolkit), then call the pure planner."""
    inventory = inventory_from_args(args, runner)
    toolkit_request = toolkit_request_from_args(args, os.environ)
    request = arch_request_from_args(args, toolkit_request.cuda_version)
    if toolkit_request.cuda_version is not None:
        # Check against the built-in table first: an impossible plan must fail in one line
        # before a toolkit download, not after it.
        make_arch_plan(request, inventory, None)
    toolkit = resolve_toolkit(toolkit_request, runner, install=True)
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
        gen = plan.rule.info.generation.value
        reporter.table(
            f"Coverage under Ollama {gen} ({plan.rule.describe()})",
            ["#", "GPU", "cc", "CUDA", "Ollama", "why"],
            rows,
        )
    for warning in plan.warnings:
        reporter.warning(warning)


def run(args: argparse.Namespace, runner: Runner) -> int:
    plan = compute_plan(args, runner)
    if args.json:
        print_json(plan.to_json())
    else:
        show_plan(plan)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="compute and validate the CUDA architecture list, with per-GPU coverage",
        description="Compute CMAKE_CUDA_ARCHITECTURES from the GPU inventory (or --arch), "
        "apply exclusions and the PTX policy, validate against the CUDA toolkit, and report "
        "which GPUs the target Ollama generation will use.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plan_arguments(parser)
    add_toolkit_arguments(parser)
    add_profile_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON on stdout")
    parser.set_defaults(func=run)
