"""One verification run: start the built Ollama, create and run the tiny model, read the log.

Steps: write the GGUF model → start ``ollama serve`` (isolated, :mod:`.server`) → upload the
model and create it → one short generation → stop the server → parse the log → compare the
per-GPU decisions with the expected coverage (:mod:`.report`).

A failed step ends the run but not the report: the server is stopped and its log is still read,
so the report shows what the server did up to the failure. The work directory (model, models
dir, home, log) is removed after a clean run and kept after a failure or with ``keep``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from build_tools.audit.inspection import cpu_variant_use
from build_tools.console import reporter
from build_tools.errors import VerifyError
from build_tools.generations import Generation
from build_tools.gpus.detect import detect_inventory
from build_tools.gpus.inventory import Inventory
from build_tools.planning.arch_plan import ArchPlan
from build_tools.planning.coverage import GpuCoverage
from build_tools.runner import Runner
from build_tools.verify.client import Completion, OllamaClient
from build_tools.verify.logparse import LogFindings, parse_log
from build_tools.verify.report import StepResult, VerifyReport, check_gpus, describe_observability
from build_tools.verify.server import RunningServer, ollama_server

if TYPE_CHECKING:  # numpy and gguf load only when a model is written
    from build_tools.verify.gguf_model import TinyModel

__all__ = ["Expectation", "run_verification", "verify_install"]

MODEL_NAME = "build-tools-verify:tiny"
PROMPT = "the tiny model"


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """What the plan (or the audit of the install) says Ollama will do per GPU."""

    coverage: tuple[GpuCoverage, ...]
    generation: Generation | None
    source: str  # "the build plan", "the audit of <dir>"


@dataclass
class _Run:
    steps: list[StepResult]
    failures: list[str]
    completion: Completion | None = None
    server_version: str | None = None


def _step(run: _Run, name: str, start: float, detail: str) -> None:
    run.steps.append(
        StepResult(name=name, ok=True, seconds=time.monotonic() - start, detail=detail)
    )


def _exercise(server: RunningServer, model: TinyModel, run: _Run, timeout: float) -> None:
    run.steps.append(
        StepResult(
            name="start server", ok=True, seconds=server.started_seconds, detail=server.base_url
        )
    )
    client = OllamaClient(server.base_url, timeout=timeout)
    run.server_version = client.version()
    start = time.monotonic()
    client.push_blob(model)
    client.create(MODEL_NAME, model, server_version=run.server_version)
    _step(run, "create model", start, f"{model.size} bytes, sha256:{model.sha256[:12]}")
    start = time.monotonic()
    run.completion = client.generate(MODEL_NAME, PROMPT)
    text = run.completion.text
    if not text.strip():
        raise VerifyError(
            f"the model generated no text (done_reason={run.completion.done_reason})",
            hint="see the runner lines in the server log",
        )
    _step(run, "generate", start, f"{run.completion.eval_count} tokens: {text!r}")


def _serve_and_exercise(
    install_dir: Path, workdir: Path, model: TinyModel, run: _Run, timeout: float
) -> RunningServer | None:
    names = ("start server", "create model", "generate")
    server: RunningServer | None = None
    start = time.monotonic()
    try:
        with ollama_server(install_dir, workdir, out=reporter) as server:
            server.wait_until_ready(timeout)
            _exercise(server, model, run, timeout)
    except VerifyError as error:
        failed = names[min(len(run.steps), len(names) - 1)]
        seconds = time.monotonic() - start
        run.steps.append(StepResult(name=failed, ok=False, seconds=seconds, detail=error.message))
        run.failures.append(f"{failed}: {error.message}")
    if server is not None:
        ok = server.stopped_cleanly
        run.steps.append(
            StepResult(
                name="stop server", ok=ok, seconds=server.stop_seconds, detail=server.stop_detail
            )
        )
        if not ok:
            run.failures.append(f"stop server: {server.stop_detail}")
    return server


def _notes(findings: LogFindings, server: RunningServer | None) -> list[str]:
    notes = []
    cpu = findings.cpu_backend
    notes.append(
        f"CPU backend loaded from {cpu}"
        if cpu
        else "no 'loaded CPU backend' line in the log (G1/G2 runners link it in)"
    )
    for name, path in findings.loaded_backends:
        if name != "CPU":
            notes.append(f"{name} backend loaded from {path}")
    if findings.offloaded:
        on_gpu, total = findings.offloaded[-1]
        notes.append(f"model layers offloaded to GPU: {on_gpu}/{total}")
    if not findings.devices:
        notes.append("the log lists no 'inference compute' device")
    if server is not None and server.env_removed:
        notes.append(f"ignored inherited settings: {', '.join(server.env_removed)}")
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        notes.append(
            f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']} is set and hides GPUs "
            "from this Ollama"
        )
    notes += [f"log: {line.strip()}" for line in findings.errors[:5]]
    return notes


def cpu_variant_note(
    install_dir: Path, generation: Generation | None, local: Inventory
) -> str | None:
    """Which ggml CPU variants the install holds and which one this CPU loads (or that none
    runs here: then Ollama has no CPU backend on this machine)."""
    lib = install_dir / "lib" / "ollama"
    prefix = "libggml-cpu-"
    names = sorted(p.name[len(prefix) : -3] for p in lib.glob(f"{prefix}*.so"))
    if not names:
        return None
    held = f"CPU variants in the install: {', '.join(names)}"
    if generation is None or local.cpu is None:
        return held
    use = cpu_variant_use(tuple(names), generation, local.cpu)
    if use is None:
        return held
    loads = use[1]
    return f"{held}; this CPU loads {loads}" if loads else f"{held}; none runs on this CPU"


def _dry_run_report(install_dir: Path, expectation: Expectation) -> VerifyReport:
    reporter.info(
        f"would start {install_dir / 'bin' / 'ollama'} serve on a free loopback port, create a "
        "tiny generated model, generate 8 tokens and compare the GPUs it uses with "
        f"{expectation.source}"
    )
    return VerifyReport(
        install=str(install_dir),
        generation=expectation.generation.name if expectation.generation else None,
        ollama_version=None,
        steps=(),
        completion=None,
        findings=None,
        gpus=(),
        gpu_observable=False,
        skipped=True,
    )


def run_verification(
    install_dir: Path,
    expectation: Expectation,
    runner: Runner,
    *,
    local: Inventory,
    timeout: float = 120.0,
    keep: bool = False,
    refine: Callable[[str], Expectation | None] | None = None,
) -> VerifyReport:
    """Run the checks on ``install_dir`` (holding ``bin/ollama``) and return the report.

    ``refine`` gets the version the server reported and may return a better expectation (the
    audit could not tell G3 from G4 when ``bin/ollama`` does not record its version).
    """
    if runner.dry_run:
        return _dry_run_report(install_dir, expectation)
    workdir = Path(tempfile.mkdtemp(prefix="ollama-verify-"))
    run = _Run(steps=[], failures=[])
    from build_tools.verify.gguf_model import write_tiny_model

    try:
        model = write_tiny_model(workdir / "tiny.gguf")
        server = _serve_and_exercise(install_dir, workdir, model, run, timeout)
    except KeyboardInterrupt:
        # Ctrl-C, SIGTERM or SIGHUP (main turns them into this): the server was stopped on
        # the way out; nothing of an unfinished check is worth keeping.
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    log_path = workdir / "ollama-serve.log"
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    findings = parse_log(text.splitlines())
    version = findings.version or run.server_version
    if refine is not None and version:
        expectation = refine(version) or expectation
    checks = check_gpus(expectation.coverage, local.gpus, findings)
    failures = [*run.failures, *(c.problem for c in checks if c.problem)]
    kept = keep or bool(failures)
    if not kept:
        shutil.rmtree(workdir, ignore_errors=True)
    return VerifyReport(
        install=str(install_dir),
        generation=expectation.generation.name if expectation.generation else None,
        ollama_version=version,
        steps=tuple(run.steps),
        completion=None if run.completion is None else run.completion.text,
        findings=findings,
        gpus=checks,
        gpu_observable=bool(local.gpus),
        notes=(
            *describe_observability(local.gpus, checks),
            *_notes(findings, server),
            *filter(None, [cpu_variant_note(install_dir, expectation.generation, local)]),
        ),
        failures=tuple(failures),
        log_path=str(log_path) if kept else None,
        workdir=str(workdir) if kept else None,
        extra={"expected_from": expectation.source},
    )


def _local_inventory(plan_inventory: Inventory, runner: Runner) -> Inventory:
    # A plan made from this machine's GPUs already knows them; one made from an inventory file
    # (a CI builder planning for another box) does not say what is here.
    if plan_inventory.source in ("nvml", "nvidia-smi"):
        return plan_inventory
    return detect_inventory(runner, path=os.environ.get("PATH"))


def verify_install(
    staging_dir: Path,
    arch_plan: ArchPlan,
    runner: Runner,
    *,
    timeout: float = 120.0,
    keep: bool = False,
    local: Inventory | None = None,
) -> VerifyReport:
    """``build --verify``: check a freshly built install against the plan it was built from."""
    expectation = Expectation(
        coverage=arch_plan.coverage,
        generation=arch_plan.rule.generation,
        source="the build plan",
    )
    local = local if local is not None else _local_inventory(arch_plan.inventory, runner)
    return run_verification(
        staging_dir, expectation, runner, local=local, timeout=timeout, keep=keep
    )
