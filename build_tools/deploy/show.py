"""Print a deploy verify report for people (stderr, through the reporter)."""

from __future__ import annotations

from build_tools.console import Row, reporter
from build_tools.deploy.check import DeployReport

__all__ = ["show_deploy_report"]


def show_deploy_report(report: DeployReport) -> None:
    if report.skipped:
        return
    reporter.table(
        f"Instances (router: {report.router} on {report.router_url or '-'})",
        ["group", "URL", "command", "stopped"],
        [
            Row(
                [i.group, i.url, " ".join(i.command), i.stop],
                style=None if i.stopped_cleanly else "red",
            )
            for i in report.instances
        ],
    )
    reporter.table(
        "Requests through the router",
        ["model", "expected group", "answered by", "result", "seconds"],
        [
            Row(
                [
                    r.model,
                    r.expected,
                    ", ".join(r.answered_by) or "-",
                    "ok" if r.ok else "WRONG" if r.error is None else "FAILED",
                    f"{r.seconds:.1f}",
                ],
                style=None if r.ok else "red",
            )
            for r in report.requests
        ],
    )
    for group, checks in report.devices.items():
        if not report.gpu_observable:
            break
        reporter.table(
            f"GPUs of group {group}'s instance: expected vs. its log",
            ["#", "GPU", "cc", "expected", "observed", "evidence"],
            [
                Row(
                    [
                        str(c.gpu.index),
                        c.gpu.name,
                        c.gpu.compute_capability,
                        "uses" if c.expected_use else "skips",
                        c.observed,
                        c.evidence,
                    ],
                    style="red" if c.problem else None,
                )
                for c in checks
            ],
        )
    for note in report.notes:
        reporter.notice(note)
    for failure in report.failures:
        reporter.warning(failure)
    if report.workdir:
        reporter.info(f"kept: {report.workdir}")
    if report.ok:
        reporter.info(
            f"deploy verify passed: {len(report.requests)} request(s) reached their group"
        )
