"""Print a verify report for people (stderr, through the reporter)."""

from __future__ import annotations

from build_tools.console import Row, reporter
from build_tools.verify.report import VerifyReport

__all__ = ["show_report"]


def show_report(report: VerifyReport) -> None:
    version = report.ollama_version or "unknown version"
    gen = report.generation or "unknown generation"
    reporter.info(f"verify {report.install}: Ollama {version}, {gen}")
    if report.skipped:
        return
    reporter.table(
        "Steps",
        ["step", "result", "seconds", "detail"],
        [
            Row(
                [s.name, "ok" if s.ok else "FAILED", f"{s.seconds:.1f}", s.detail],
                style=None if s.ok else "red",
            )
            for s in report.steps
        ],
    )
    if report.findings is not None:
        rows = [
            Row(["uses", d.label, d.line.split("msg=", 1)[-1][:90]])
            for d in report.findings.devices
        ]
        rows += [
            Row(
                [
                    "skips",
                    s.name or (f"GPU [{s.index}]" if s.index is not None else s.id or "?"),
                    s.reason,
                ]
            )
            for s in report.findings.skipped
        ]
        reporter.table("Devices in the server log", ["Ollama", "device", "logged as"], rows)
    if report.gpus:
        reporter.table(
            "GPUs: plan vs. server log",
            ["#", "GPU", "cc", "wanted", "plan", "observed", "evidence"],
            [
                Row(
                    [
                        str(c.gpu.index),
                        c.gpu.name,
                        c.gpu.compute_capability,
                        "yes" if c.wanted else "excluded",
                        "-" if not c.planned else "uses" if c.expected_use else "skips",
                        c.observed,
                        c.evidence,
                    ],
                    style="red" if c.problem else None,
                )
                for c in report.gpus
            ],
        )
    for note in report.notes:
        reporter.notice(note)
    for failure in report.failures:
        reporter.warning(failure)
    if report.workdir:
        reporter.info(f"kept: {report.workdir} (server log: {report.log_path})")
    if report.ok:
        reporter.info(f"verify passed: completion {report.completion!r}")
