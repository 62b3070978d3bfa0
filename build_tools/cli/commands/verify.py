"""``verify``: run a built Ollama and check it serves a model on exactly the planned GPUs.

Expected per-GPU outcome, without a build plan at hand: the audit of the install (``inspect``:
generation from ``bin/ollama``'s build info, compiled archs from its CUDA libraries) applied to
the GPUs of the inventory (this machine's, or ``--inventory``), with the user's exclusions
(``--exclude-arch``, ``--min-arch``) marking GPUs that must stay unused.

JSON (``--json``, on stdout): ``VerifyReport.to_json()`` - ``ok``, ``steps``, ``completion``,
``gpu_observable``, ``gpus`` (planned vs observed per GPU), ``log`` (devices and skips parsed
from the server log), ``notes``, ``failures``. Exit code 13 when a check fails.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from build_tools.cli.commands.common import add_inventory_argument, inventory_from_args, print_json
from build_tools.cli.commands.inspect import Inspection, gpu_uses, inspect_path, rule_for
from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.generations import (
    Generation,
    OllamaVersion,
    generation_for_version,
    generation_info,
)
from build_tools.gpus.inventory import Gpu
from build_tools.planning.arch_plan import request_tokens
from build_tools.planning.archs import ArchKeyword, parse_arch_list, parse_arch_number
from build_tools.planning.coverage import GpuCoverage
from build_tools.runner import Runner
from build_tools.verify import Expectation, VerifyReport, run_verification
from build_tools.verify.show import show_report
from build_tools.verify.unpack import find_install_root, is_tarball, unpack_tarball

__all__ = ["expectation_from_inspection", "register", "unwanted_reason"]

EPILOG = """\
examples:
  python -m build_tools verify dist/                         # an install directory
  python -m build_tools verify ollama-linux-amd64.tgz --exclude-arch 50
  python -m build_tools verify /opt/ollama --inventory box.json --json

The server runs on a free 127.0.0.1 port with its own OLLAMA_MODELS and HOME in a temporary
directory (kept with --keep or after a failure), inherited OLLAMA_* settings removed. On a
machine without NVIDIA GPU only start, CPU backend, model load and generation are checked.
"""


def unwanted_reason(gpu: Gpu, excluded: set[int], min_arch: int | None) -> str | None:
    if gpu.arch_number in excluded:
        return f"--exclude-arch {gpu.arch_number}"
    if min_arch is not None and gpu.arch_number < min_arch:
        return f"--min-arch {min_arch}"
    return None


def _exclusions(args: argparse.Namespace) -> tuple[set[int], int | None]:
    excluded: set[int] = set()
    for parsed in parse_arch_list(request_tokens(args.exclude_arch)):
        if isinstance(parsed, ArchKeyword):
            raise ConfigurationError(
                f"--exclude-arch takes architectures, not '{parsed.value}'",
                hint="e.g. --exclude-arch 50,52",
            )
        excluded.add(parsed.number)
    minimum = parse_arch_number(args.min_arch)[0] if args.min_arch else None
    return excluded, minimum


def _intent(coverage: GpuCoverage) -> GpuCoverage:
    """Without a recorded minimum, expect what the user wants where the code can run it."""
    uses = coverage.wanted and coverage.cuda != "none"
    return replace(
        coverage,
        ollama_uses=uses,
        reason="this G1-G3 binary does not record its minimum compute capability (Go omits "
        "-ldflags from the build info of -trimpath builds): expecting "
        + ("use, as the GPU is wanted and compiled for" if uses else "it to be left unused"),
    )


def expectation_from_inspection(
    inspection: Inspection,
    excluded: set[int],
    min_arch: int | None,
    generation: Generation | None = None,
) -> Expectation:
    """Per-GPU coverage from the audited install under ``generation`` (default: the audit's),
    with the user's exclusions as ``wanted``."""
    generation = generation or inspection.generation
    info = inspection.tree.build_info
    cuda = [b for b in inspection.layout.backends if b.kind == "cuda"]
    gpus = tuple(use.gpu for use in inspection.gpus)
    uses = gpu_uses(gpus, cuda, rule_for(generation, info)) if generation else inspection.gpus
    minimum_unknown = (
        generation is not None
        and generation_info(generation).rule == "minimum"
        and (info is None or info.cuda_minimum is None)
    )
    coverage: list[GpuCoverage] = []
    for use in uses:
        chosen = use.chosen
        base = (
            chosen[1]
            if chosen is not None
            else GpuCoverage(
                gpu=use.gpu, cuda="none", ollama_uses=False, reason=use.reason, wanted=True
            )
        )
        # The best directory's verdict, but "uses" if any CUDA directory takes the GPU.
        item = replace(
            base,
            ollama_uses=use.used,
            wanted=unwanted_reason(use.gpu, excluded, min_arch) is None,
        )
        coverage.append(_intent(item) if minimum_unknown else item)
    return Expectation(
        coverage=tuple(coverage),
        generation=generation,
        source=f"the audit of {inspection.tree.source}",
    )


def _refiner(
    inspection: Inspection, excluded: set[int], min_arch: int | None, override: str | None
) -> Callable[[str], Expectation | None] | None:
    """When only the layout told the generation (G3 and G4 look alike), the version the server
    reports decides it."""
    info = inspection.tree.build_info
    if override or (info is not None and info.version is not None):
        return None

    def refine(version: str) -> Expectation | None:
        parsed = OllamaVersion.from_describe(version)
        if parsed is None or (parsed.major, parsed.minor, parsed.patch) == (0, 0, 0):
            return None
        generation = generation_for_version(parsed)
        return expectation_from_inspection(inspection, excluded, min_arch, generation)

    return refine


def _verify_root(root: Path, args: argparse.Namespace, runner: Runner) -> VerifyReport:
    inventory = inventory_from_args(args, runner)
    inspection = inspect_path(root, runner, inventory=inventory, generation=args.ollama_generation)
    excluded, min_arch = _exclusions(args)
    expectation = expectation_from_inspection(inspection, excluded, min_arch)
    local = inventory
    if args.inventory is not None:
        local = inventory_from_args(argparse.Namespace(inventory=None), runner)
    refine = _refiner(inspection, excluded, min_arch, args.ollama_generation)
    for warning in inspection.warnings:
        # A G3/G4 layout ambiguity is settled by the version the server reports.
        if refine is None or not warning.startswith("the layout also fits"):
            reporter.warning(warning)
    return run_verification(
        root,
        expectation,
        runner,
        local=local,
        timeout=args.timeout,
        keep=args.keep,
        refine=refine,
    )


def run(args: argparse.Namespace, runner: Runner) -> int:
    path = Path(args.path)
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
        report = _verify_root(root, args, runner)
    finally:
        if scratch is not None and not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print_json(report.to_json())
    else:
        show_report(report)
    report.raise_if_failed()
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="start a built Ollama, run a tiny generated model, and check which GPUs it uses",
        description="Start bin/ollama serve from an install directory or release tarball in "
        "isolation, create a tiny generated GGUF model, generate a few tokens, stop the "
        "server, and compare the GPUs its log says it uses or skips with what the install's "
        "compiled archs and your exclusions promise.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="DIR|TARBALL", help="install directory or tarball")
    add_inventory_argument(parser)
    parser.add_argument(
        "--exclude-arch",
        action="append",
        metavar="LIST",
        help="GPUs of these archs must NOT be used (as given to build); e.g. 50 for a Tesla M10",
    )
    parser.add_argument(
        "--min-arch", metavar="N", help="GPUs below this compute capability must not be used"
    )
    parser.add_argument(
        "--ollama-generation",
        metavar="GEN",
        help="override the generation read from bin/ollama (G1-G5)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (log, models, model)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="limit for the server to answer and for each API call (default: 120)",
    )
    parser.set_defaults(func=run)
