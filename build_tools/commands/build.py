"""``build`` (also the default command): plan, then build Ollama.

Only the planning stage exists in this version; the source, recipe, CMake/Ninja and Go stages
are tracked in issue 4. The command plans for real and then stops with a clear error rather than
pretending to build.
"""

from __future__ import annotations

import argparse

from build_tools.errors import BuildToolsError
from build_tools.runner import Runner
from build_tools.toolkit import add_toolkit_arguments

from .common import add_plan_arguments, print_json
from .plan import compute_plan, show_plan

__all__ = ["register"]


class NotBuiltYetError(BuildToolsError):
    exit_code = 9


def run(args: argparse.Namespace, runner: Runner) -> int:
    plan = compute_plan(args, runner)
    if args.json:
        print_json(plan.to_json())
    else:
        show_plan(plan)
    raise NotBuiltYetError(
        "this version of ollama-build-tools plans builds but cannot run them yet",
        hint="use the CMAKE_CUDA_ARCHITECTURES value above with Ollama's own build steps",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "build",
        help="plan and build Ollama (the default command)",
        description="Plan the CUDA architectures and build Ollama with them.",
    )
    add_plan_arguments(parser)
    add_toolkit_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON on stdout")
    parser.set_defaults(func=run)
