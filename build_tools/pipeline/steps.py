"""Run a recipe's steps: progress per phase, a full log per step, the log tail on failure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from build_tools.build_plan import BuildPlan
from build_tools.console import reporter
from build_tools.pipeline.stamps import Skipped
from build_tools.recipes.base import Step
from build_tools.runner import Runner

__all__ = ["NINJA_PROGRESS", "run_steps", "skip_step"]

NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]")


def _run_step(step: Step, number: int, plan: BuildPlan, runner: Runner) -> None:
    log_path = plan.log_dir / f"{number:02d}-{step.name}.log"
    if not step.ninja_progress or runner.dry_run:
        runner.run(step.argv, cwd=step.cwd, env=step.env, log_path=log_path, what=step.title)
        return
    with reporter.count_progress(step.title) as progress:

        def on_line(line: str) -> None:
            match = NINJA_PROGRESS.match(line)
            if match is not None:
                progress.update(int(match[1]), int(match[2]))

        runner.run(
            step.argv,
            cwd=step.cwd,
            env=step.env,
            log_path=log_path,
            on_line=on_line,
            what=step.title,
        )


def run_steps(
    plan: BuildPlan,
    steps: Sequence[Step],
    runner: Runner,
    *,
    first_number: int = 1,
) -> None:
    """Run every step in order; a failure raises CommandFailedError naming the step's log.

    Logs are numbered from ``first_number`` in the order the steps run."""
    for number, step in enumerate(steps, start=first_number):
        with reporter.step(step.title):
            _run_step(step, number, plan, runner)


def skip_step(plan: BuildPlan, step: Step, number: int, why: str) -> Skipped:
    """Say that ``step`` is not run, and leave that in its log (an older log of the step would
    otherwise look like this run's)."""
    reporter.info(f"✓ {step.title}: skipped, {why}")
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = plan.log_dir / f"{number:02d}-{step.name}.log"
    log_path.write_text(f"skipped: {why} (see {plan.options.workdir / 'stamps'})\n")
    return Skipped(step.name, step.title, why)
