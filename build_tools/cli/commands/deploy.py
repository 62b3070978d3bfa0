"""``deploy plan|build|render|verify``: one Ollama per GPU group behind one endpoint.

JSON (``--json``, on stdout): ``plan`` prints :meth:`DeployPlan.to_json`; ``build`` prints
``{"groups": [{"name", "install", "build": <build summary>}]}``; ``render`` prints the files it
wrote and its warnings; ``verify`` prints :meth:`DeployReport.to_json`.
"""

from __future__ import annotations

from pathlib import Path

from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.deploy.plan import DeployPlan, make_deploy_plan
from build_tools.pipeline.inputs import gather_inventory, target_of
from build_tools.runner import Runner
from build_tools.settings.deploy import (
    DeployBuildSettings,
    DeployPlanSettings,
    DeployRenderSettings,
    DeployVerifySettings,
    EndpointSettings,
    GroupingSettings,
)
from build_tools.settings.groups import TargetSettings

__all__ = [
    "compute_deploy_plan",
    "run_build",
    "run_plan",
    "run_render",
    "run_verify",
    "show_deploy_plan",
]


def compute_deploy_plan(
    grouping: GroupingSettings,
    endpoint: EndpointSettings,
    target: TargetSettings,
    runner: Runner,
) -> DeployPlan:
    inventory = gather_inventory(grouping.inventory, runner)
    generation, ref = target_of(target)
    return make_deploy_plan(
        inventory,
        specs=grouping.groups,
        routes=grouping.models,
        default_group=grouping.default_group,
        ptx=grouping.ptx,
        generation=generation,
        ref=ref,
        base_port=endpoint.base_port,
        router_port=endpoint.router_port,
        listen=endpoint.listen,
        target_driver=grouping.driver.target_driver,
    )


def show_deploy_plan(plan: DeployPlan) -> None:
    for notice in (*plan.inventory.notices, *plan.notices):
        reporter.notice(notice)
    rows = []
    for group in plan.groups:
        models = ", ".join(group.models) or "-"
        if group.default:
            models = f"{models} + every other model" if group.models else "every model not routed"
        rows.append(
            Row(
                [
                    group.name,
                    ",".join(str(g.index) for g in group.gpus),
                    ", ".join(group.compute_capabilities),
                    group.arch_plan.cuda_architectures,
                    group.cuda_version,
                    str(group.port),
                    models,
                ]
            )
        )
    reporter.table(
        f"Groups behind {plan.listen}:{plan.router_port} (Ollama {plan.generation.name}"
        + (f", {plan.ref}" if plan.ref else "")
        + ")",
        ["group", "GPUs", "cc", "archs", "CUDA", "port", "models"],
        rows,
    )
    owner = {gpu.uuid: group.name for group in plan.groups for gpu in group.gpus}
    gpu_rows = [
        Row(
            [str(g.index), g.name, g.compute_capability, owner.get(g.uuid, "-"), g.uuid],
            style=None if g.uuid in owner else "yellow",
        )
        for g in plan.inventory.gpus
    ]
    reporter.table("GPUs", ["#", "GPU", "cc", "group", "UUID"], gpu_rows)
    for warning in plan.warnings:
        reporter.warning(warning)


def run_plan(settings: DeployPlanSettings, context: Context) -> int:
    plan = compute_deploy_plan(
        settings.grouping, settings.endpoint, settings.target, context.runner
    )
    if context.json:
        print_json(plan.to_json())
    else:
        show_deploy_plan(plan)
    return 0


def run_build(settings: DeployBuildSettings, context: Context) -> int:
    from build_tools.deploy.build import build_groups

    if settings.compile.with_vulkan:
        reporter.warning(
            "--with-vulkan: a Vulkan backend lets an instance use other groups' GPUs unless "
            "OLLAMA_VULKAN=0 (the rendered units set it only where the generation turns Vulkan "
            "on by default)"
        )
    results = build_groups(settings, context.runner, show=not context.json)
    if context.json:
        print_json({"groups": [r.to_json() for r in results]})
    return 0


def run_render(settings: DeployRenderSettings, context: Context) -> int:
    from build_tools.deploy.instance import Layout
    from build_tools.deploy.render import render_deployment

    plan = compute_deploy_plan(
        settings.grouping, settings.endpoint, settings.target, context.runner
    )
    layout = Layout.of(
        user=settings.user,
        prefix=settings.prefix,
        models_dir=settings.models_dir,
        service_user=settings.service_user,
        config_dir=settings.config_dir,
        haproxy=settings.haproxy,
    )
    home_text = context.environ.get("HOME")
    rendered = render_deployment(
        plan,
        layout,
        formats=settings.formats,
        routers=settings.routers,
        image=settings.image,
        output=settings.output,
        host_root=settings.host_root,
        home=Path(home_text) if home_text else None,
        dry_run=context.runner.dry_run,
    )
    for notice in (*plan.notices, *rendered.notices):
        reporter.notice(notice)
    for warning in (*plan.warnings, *rendered.warnings):
        reporter.warning(warning)
    if context.json:
        print_json(rendered.to_json())
    else:
        verb = "would write" if context.runner.dry_run else "wrote"
        for path in rendered.files:
            reporter.info(f"{verb} {path}")
    return 0


def run_verify(settings: DeployVerifySettings, context: Context) -> int:
    from build_tools.deploy.check import verify_deployment
    from build_tools.deploy.show import show_deploy_report

    report = verify_deployment(settings, context.runner, context.environ)
    if context.json:
        print_json(report.to_json())
    else:
        show_deploy_report(report)
    report.raise_if_failed()
    return 0
