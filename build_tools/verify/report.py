"""Compare what a running Ollama decided per GPU with the plan's coverage report.

Expected: one :class:`~build_tools.coverage.GpuCoverage` per planned GPU (``ollama_uses``: the
plan's prediction, ``wanted``: False when the user excluded its arch). Observed: the server log
(:mod:`.logparse`), matched to the GPUs of *this* machine - by UUID where the log has one (G1-G4
``inference compute``, G4 skips), else by compute capability and name (G5 lists devices by
index, G1-G3 "too old" lines carry only an index and a cc).

Failures: an excluded GPU that Ollama used; a planned GPU it did not use; any other GPU on
which log and plan disagree. A planned GPU that is not on this machine cannot be observed and
is reported as such, never as a failure - and on a machine without GPU nothing about GPU use
can be observed at all, which the report says plainly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from build_tools.errors import VerifyError
from build_tools.gpus.inventory import Gpu
from build_tools.planning.coverage import GpuCoverage
from build_tools.verify.logparse import InferenceDevice, LogFindings, SkippedDevice

__all__ = [
    "GpuCheck",
    "Observed",
    "StepResult",
    "VerifyReport",
    "check_gpus",
    "describe_observability",
]

Observed = Literal["used", "skipped", "not listed", "not on this machine"]

NO_GPU_NOTE = (
    "this machine has no NVIDIA GPU, so GPU use could not be observed: verified only that the "
    "server starts, loads its CPU backend, loads the model and generates"
)


@dataclass(frozen=True, kw_only=True)
class GpuCheck:
    gpu: Gpu
    expected_use: bool
    wanted: bool
    expected_reason: str
    observed: Observed
    evidence: str  # the log's reason or line
    problem: str | None
    planned: bool = True  # False: a GPU of this machine that the plan did not know

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.gpu.index,
            "uuid": self.gpu.uuid,
            "name": self.gpu.name,
            "compute_capability": self.gpu.compute_capability,
            "planned": self.planned,
            "wanted": self.wanted,
            "expected_use": self.expected_use,
            "expected_reason": self.expected_reason,
            "observed": self.observed,
            "evidence": self.evidence,
            "problem": self.problem,
        }


@dataclass(frozen=True, kw_only=True)
class StepResult:
    name: str  # "start server", "create model", "generate", "stop server"
    ok: bool
    seconds: float
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    install: str
    generation: str | None  # G1..G5, what the plan or the audit expected
    ollama_version: str | None
    steps: tuple[StepResult, ...]
    completion: str | None
    findings: LogFindings | None
    gpus: tuple[GpuCheck, ...]
    gpu_observable: bool
    notes: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    log_path: str | None = None
    workdir: str | None = None  # kept with --keep
    skipped: bool = False  # --dry-run
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_if_failed(self) -> None:
        """Raise :class:`VerifyError` (exit 13) naming every failure, GPUs included."""
        if self.ok:
            return
        raise VerifyError(
            f"verify failed for {self.install}: " + "; ".join(self.failures),
            hint=f"server log: {self.log_path}" if self.log_path else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "install": self.install,
            "generation": self.generation,
            "ollama_version": self.ollama_version,
            "dry_run": self.skipped,
            "steps": [s.to_json() for s in self.steps],
            "completion": self.completion,
            "gpu_observable": self.gpu_observable,
            "gpus": [g.to_json() for g in self.gpus],
            "log": None if self.findings is None else self.findings.to_json(),
            "notes": list(self.notes),
            "failures": list(self.failures),
            "log_path": self.log_path,
            "workdir": self.workdir,
            **self.extra,
        }


def _same_name(a: str | None, b: str) -> bool:
    return not a or a.strip().lower() == b.strip().lower()


def _match_devices(
    local: Sequence[Gpu], devices: Sequence[InferenceDevice]
) -> dict[str, InferenceDevice]:
    """Local GPU UUID -> the ``inference compute`` entry that is that GPU."""
    matched: dict[str, InferenceDevice] = {}
    by_uuid = {gpu.uuid: gpu for gpu in local}
    loose: list[InferenceDevice] = []
    for device in devices:
        if not device.is_gpu:
            continue
        if device.uuid is not None:
            if device.uuid in by_uuid:
                matched[device.uuid] = device
            continue
        loose.append(device)
    # G5 lists devices by index: pair them with local GPUs of the same cc and name, in order.
    for device in loose:
        for gpu in sorted(local, key=lambda g: g.index):
            if gpu.uuid in matched:
                continue
            if device.compute == gpu.compute_capability and _same_name(device.gpu_name, gpu.name):
                matched[gpu.uuid] = device
                break
    return matched


def _skip_for(gpu: Gpu, skipped: Sequence[SkippedDevice]) -> SkippedDevice | None:
    for skip in skipped:
        if skip.id is not None:
            if skip.id == gpu.uuid:
                return skip
            continue
        if skip.compute == gpu.compute_capability and _same_name(skip.name, gpu.name):
            return skip
    return None


def _problem(coverage: GpuCoverage, observed: Observed, evidence: str) -> str | None:
    gpu = coverage.gpu.label
    if observed == "not on this machine":
        return None
    used = observed == "used"
    if used and not coverage.wanted:
        return f"{gpu}: excluded from the plan, but this Ollama used it ({evidence})"
    if not used and coverage.wanted and coverage.ollama_uses:
        return f"{gpu}: planned to be used, but this Ollama did not use it ({evidence})"
    if used != coverage.ollama_uses:
        expected = "use" if coverage.ollama_uses else "skip"
        return (
            f"{gpu}: the plan expected Ollama to {expected} it ({coverage.reason}), but it was "
            f"{observed} ({evidence})"
        )
    return None


def _observe(
    gpu: Gpu, present: bool, device: InferenceDevice | None, skipped: Sequence[SkippedDevice]
) -> tuple[Observed, str]:
    if not present:
        return "not on this machine", "no GPU with this UUID here"
    if device is not None:
        return "used", f"listed as inference compute: {device.label}"
    skip = _skip_for(gpu, skipped)
    if skip is not None:
        return "skipped", skip.reason
    return "not listed", "not among the inference compute devices, and no skip reason logged"


def check_gpus(
    expected: Sequence[GpuCoverage], local: Sequence[Gpu], findings: LogFindings
) -> tuple[GpuCheck, ...]:
    """One check per planned GPU, then one per local GPU the plan did not know (reported,
    never failed: nothing was promised about it)."""
    matched = _match_devices(local, findings.devices)
    local_ids = {gpu.uuid for gpu in local}
    planned = {c.gpu.uuid for c in expected}
    checks = []
    for coverage in expected:
        gpu = coverage.gpu
        observed, evidence = _observe(
            gpu, gpu.uuid in local_ids, matched.get(gpu.uuid), findings.skipped
        )
        checks.append(
            GpuCheck(
                gpu=gpu,
                expected_use=coverage.ollama_uses,
                wanted=coverage.wanted,
                expected_reason=coverage.reason,
                observed=observed,
                evidence=evidence,
                problem=_problem(coverage, observed, evidence),
            )
        )
    for gpu in local:
        if gpu.uuid in planned:
            continue
        observed, evidence = _observe(gpu, True, matched.get(gpu.uuid), findings.skipped)
        checks.append(
            GpuCheck(
                gpu=gpu,
                expected_use=False,
                wanted=True,
                expected_reason="not in the plan's inventory: nothing expected",
                observed=observed,
                evidence=evidence,
                problem=None,
                planned=False,
            )
        )
    return tuple(checks)


def describe_observability(local: Sequence[Gpu], checks: Sequence[GpuCheck]) -> list[str]:
    """Notes that say what this run could and could not show about GPUs."""
    if not local:
        return [NO_GPU_NOTE]
    absent = [c.gpu.label for c in checks if c.observed == "not on this machine"]
    if absent:
        return [
            "these planned GPUs are not on this machine, so their use could not be observed: "
            + "; ".join(absent)
        ]
    return []
