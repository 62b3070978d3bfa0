"""Comparing the GPUs a server log shows in use with the plan's coverage."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_verify_logparse import (
    G3_CPU_ONLY,
    G3_M10_SKIPPED,
    G4_M10_SKIPPED,
    G4_M10_USED,
    G5_M10_SKIPPED,
    G5_ONLY_M10_USED,
)

from build_tools.errors import VerifyError
from build_tools.generations import Generation, OllamaVersion
from build_tools.gpus.inventory import Gpu
from build_tools.planning.arch_plan import ArchPlan, ArchRequest, make_arch_plan
from build_tools.verify.logparse import parse_log
from build_tools.verify.report import NO_GPU_NOTE, VerifyReport, check_gpus, describe_observability

from boxes import H100, SEED_BOX, inventory
from plan_values import generation

BOX = inventory(SEED_BOX).gpus


def _plan(generation: Generation, ref: str | None) -> ArchPlan:
    request = ArchRequest(
        exclude_tokens=("50",),
        generation=generation,
        ref=OllamaVersion.parse(ref) if ref else None,
        cuda_version="12.4",
    )
    return make_arch_plan(request, inventory(SEED_BOX), None)


def _report(failures: list[str]) -> VerifyReport:
    return VerifyReport(
        install="/opt/ollama",
        generation="G4",
        ollama_version="0.24.0",
        steps=(),
        completion="x",
        findings=None,
        gpus=(),
        gpu_observable=True,
        failures=tuple(failures),
        log_path="/tmp/x/ollama-serve.log",
    )


@pytest.mark.parametrize(
    ("generation", "ref", "log"),
    [
        (generation("G3"), "v0.6.8", G3_M10_SKIPPED),
        (generation("G4"), "v0.24.0", G4_M10_SKIPPED),
        (generation("G5"), None, G5_M10_SKIPPED),
    ],
)
def test_log_that_matches_the_plan_passes(
    generation: Generation, ref: str | None, log: list[str]
) -> None:
    checks = check_gpus(_plan(generation, ref).coverage, BOX, parse_log(log))
    assert [c.problem for c in checks] == [None] * 7
    assert [c.observed for c in checks] == ["used"] * 3 + ["skipped"] * 4
    assert all(not c.wanted for c in checks[3:])


def test_g4_excluded_m10_used_fails_naming_the_gpu() -> None:
    checks = check_gpus(_plan(generation("G4"), "v0.24.0").coverage, BOX, parse_log(G4_M10_USED))
    problems = [c.problem for c in checks if c.problem]
    assert len(problems) == 4
    assert "GPU 3 Tesla M10 (cc 5.0, GPU-" in problems[0]
    assert "excluded from the plan, but this Ollama used it" in problems[0]
    report = _report(problems)
    with pytest.raises(VerifyError, match=r"Tesla M10.*excluded") as raised:
        report.raise_if_failed()
    assert raised.value.exit_code == 13
    assert raised.value.hint == "server log: /tmp/x/ollama-serve.log"


def test_g5_excluded_m10_used_and_planned_3060s_unused_both_fail() -> None:
    checks = check_gpus(_plan(generation("G5"), None).coverage, BOX, parse_log(G5_ONLY_M10_USED))
    by_index = {c.gpu.index: c for c in checks}
    assert "planned to be used, but this Ollama did not use it" in str(by_index[0].problem)
    assert "not among the inference compute devices" in str(by_index[0].problem)
    assert "GPU 3 Tesla M10" in str(by_index[3].problem)
    assert "excluded from the plan, but this Ollama used it" in str(by_index[3].problem)


def test_used_gpu_the_plan_said_would_be_skipped_is_a_disagreement() -> None:
    plan = _plan(generation("G4"), "v0.24.0")
    # Pretend the M10s were wanted (no exclusion) but not covered: G4 skips them.
    coverage = tuple(replace(c, wanted=True) for c in plan.coverage)
    checks = check_gpus(coverage, BOX, parse_log(G4_M10_USED))
    assert "the plan expected Ollama to skip it" in str(checks[3].problem)


def test_cpu_only_machine_observes_nothing_and_says_so() -> None:
    checks = check_gpus(_plan(generation("G3"), "v0.6.8").coverage, (), parse_log(G3_CPU_ONLY))
    assert [c.observed for c in checks] == ["not on this machine"] * 7
    assert all(c.problem is None for c in checks)
    assert describe_observability((), checks) == [NO_GPU_NOTE]
    assert "GPU use could not be observed" in NO_GPU_NOTE


def test_planned_gpus_of_another_box_are_not_observable_here() -> None:
    local: tuple[Gpu, ...] = inventory(H100).gpus
    checks = check_gpus(
        _plan(generation("G4"), "v0.24.0").coverage, local, parse_log(G4_M10_SKIPPED)
    )
    assert [c.observed for c in checks[:7]] == ["not on this machine"] * 7
    # The local H100 was not in the plan: expected unused, and the log does not list it.
    assert checks[7].gpu.name == "NVIDIA H100 80GB HBM3"
    assert checks[7].observed == "not listed"
    assert checks[7].problem is None
    assert not checks[7].planned
    notes = describe_observability(local, checks)
    assert notes[0].startswith("these planned GPUs are not on this machine")


def test_passing_report_does_not_raise() -> None:
    _report([]).raise_if_failed()
