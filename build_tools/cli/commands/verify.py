"""``verify``: run a built Ollama and check it serves a model on exactly the planned GPUs.

Expected per-GPU outcome: :mod:`build_tools.verify.expectation` (the audit of the install and
the user's exclusions).

JSON (``--json``, on stdout): ``VerifyReport.to_json()`` - ``ok``, ``steps``, ``completion``,
``gpu_observable``, ``gpus`` (planned vs observed per GPU), ``log`` (devices and skips parsed
from the server log), ``notes``, ``failures``. Exit code 13 when a check fails.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from build_tools.audit.inspection import inspect_path
from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.gpus.detect import detect_inventory
from build_tools.pipeline.inputs import gather_inventory
from build_tools.runner import Runner
from build_tools.settings.commands import VerifySettings
from build_tools.verify import VerifyReport, run_verification
from build_tools.verify.expectation import exclusions, expectation_from_inspection, refiner
from build_tools.verify.show import show_report
from build_tools.verify.unpack import find_install_root, is_tarball, unpack_tarball

__all__ = ["run"]


def _verify_root(root: Path, settings: VerifySettings, runner: Runner) -> VerifyReport:
    inventory = gather_inventory(settings.inventory, runner)
    generation = settings.ollama_generation
    inspection = inspect_path(root, runner, inventory=inventory, generation=generation)
    excluded, min_arch = exclusions(settings.exclude_arch, settings.min_arch)
    expectation = expectation_from_inspection(inspection, excluded, min_arch)
    # What the GPUs of this machine do is observed here, whatever box the plan was for.
    local = inventory if settings.inventory.inventory is None else detect_inventory(runner)
    refine = refiner(inspection, excluded, min_arch, generation)
    for warning in inspection.warnings:
        # A G3/G4 layout ambiguity is settled by the version the server reports.
        if refine is None or not warning.startswith("the layout also fits"):
            reporter.warning(warning)
    return run_verification(
        root,
        expectation,
        runner,
        local=local,
        timeout=settings.timeout,
        keep=settings.keep,
        refine=refine,
    )


def run(settings: VerifySettings, context: Context) -> int:
    runner = context.runner
    path = settings.path
    if not path.exists():
        raise ConfigurationError(
            f"{path} does not exist", hint="pass an install directory or a release tarball"
        )
    scratch: Path | None = None
    try:
        if is_tarball(path):
            scratch = Path(tempfile.mkdtemp(prefix="ollama-verify-unpack-"))
            with reporter.step(f"unpack {path.name}"):
                unpack_tarball(path, scratch / "install", runner)
            root = find_install_root(scratch / "install")
        else:
            root = find_install_root(path)
        report = _verify_root(root, settings, runner)
    finally:
        if scratch is not None and not settings.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    if context.json:
        print_json(report.to_json())
    else:
        show_report(report)
    report.raise_if_failed()
    return 0
