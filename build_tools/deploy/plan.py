"""The deploy plan: GPU groups, each with its own validated arch plan, toolkit, port and models.

Pure: :func:`make_deploy_plan` takes the inventory and the parsed options and returns a frozen
:class:`DeployPlan`; ``deploy plan --json``, ``deploy build`` and ``deploy render`` all start
from it.

Per group: the group's exact compute capabilities are planned the way ``plan`` plans an
inventory (:func:`~build_tools.planning.arch_plan.make_arch_plan`, validated against the
built-in table of the chosen CUDA version), and the toolkit is the newest one this tool can
install that compiles all of them, that the target Ollama has a CUDA preset for, and - when the
inventory records it, or ``--target-driver`` names it - that the box's driver can run
(``planning.driver.choose_cuda``, the choice ``plan`` and ``build`` make too). For the seed box
(3x RTX 3060 + Tesla M10) that is CUDA 13.0 (or 12.4 on a driver older than 580.65.06) for
``86`` and CUDA 12.4 for ``50``: CUDA 13 cannot compile Maxwell.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from build_tools.errors import ConfigurationError, PlanError
from build_tools.generations import Generation, OllamaVersion
from build_tools.gpus.inventory import Gpu, Inventory
from build_tools.gpus.selection import GroupSpec, select_gpus
from build_tools.planning.arch_plan import ArchPlan, ArchRequest, PtxPolicy, make_arch_plan
from build_tools.planning.archs import CudaArch
from build_tools.planning.coverage import GpuCoverage, gpu_coverage
from build_tools.planning.cuda_support import version_tuple
from build_tools.planning.driver import BoxDriver, box_driver, choose_cuda
from build_tools.settings.deploy import ModelRoute
from build_tools.toolkit.request import default_provider

__all__ = ["DeployPlan", "Group", "make_deploy_plan"]


@dataclass(frozen=True, kw_only=True)
class Group:
    name: str
    selector: str  # the --group selector, or cc:X.Y for the default grouping
    gpus: tuple[Gpu, ...]
    arch_plan: ArchPlan  # planned from this group's GPUs only
    port: int
    models: tuple[str, ...]  # routed here by --model (normalised names)
    default: bool  # also serves every model not routed elsewhere
    # What this group's build would do with the other groups' GPUs if CUDA_VISIBLE_DEVICES
    # did not hide them: under an exact-cc rule the build itself refuses them.
    foreign: tuple[GpuCoverage, ...] = ()

    @property
    def uuids(self) -> tuple[str, ...]:
        return tuple(gpu.uuid for gpu in self.gpus)

    @property
    def compute_capabilities(self) -> tuple[str, ...]:
        return tuple(sorted({g.compute_capability for g in self.gpus}, key=version_tuple))

    @property
    def cuda_version(self) -> str:
        return self.arch_plan.cuda_version

    @property
    def label(self) -> str:
        return f"group {self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "selector": self.selector,
            "uuids": list(self.uuids),
            "gpus": [gpu.to_json() for gpu in self.gpus],
            "compute_capabilities": list(self.compute_capabilities),
            "cuda_architectures": self.arch_plan.cuda_architectures,
            "toolkit": {
                "version": self.cuda_version,
                "provider": default_provider(self.cuda_version),
            },
            "port": self.port,
            "models": list(self.models),
            "default": self.default,
            "foreign_gpus_the_build_would_use": [c.gpu.uuid for c in self.foreign if c.ollama_uses],
            "plan": self.arch_plan.to_json(),
        }


@dataclass(frozen=True, kw_only=True)
class DeployPlan:
    inventory: Inventory
    generation: Generation
    ref: OllamaVersion | None
    groups: tuple[Group, ...]
    routes: tuple[ModelRoute, ...]  # --model, in the order given
    listen: str
    router_port: int
    unassigned: tuple[Gpu, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    notices: tuple[str, ...] = field(default=())

    @property
    def default_group(self) -> Group:
        return next(g for g in self.groups if g.default)

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "inventory": {
                "source": self.inventory.source,
                "origin": self.inventory.origin,
                "gpu_count": len(self.inventory.gpus),
                "driver_version": self.inventory.driver_version,
                "cuda_driver_version": self.inventory.cuda_driver_version,
            },
            "ollama_generation": self.generation.name,
            "ollama_ref": None if self.ref is None else str(self.ref),
            "router": {"listen": self.listen, "port": self.router_port},
            "default_group": self.default_group.name,
            "models": {route.model: route.group for route in self.routes},
            "groups": [group.to_json() for group in self.groups],
            "unassigned_gpus": [gpu.to_json() for gpu in self.unassigned],
            "warnings": list(self.warnings),
            "notices": list(self.notices),
        }


def _default_specs(gpus: Sequence[Gpu]) -> list[tuple[str, str, tuple[Gpu, ...]]]:
    """One group per distinct compute capability, highest first, named after it (86, 50)."""
    ccs = sorted({(g.cc_major, g.cc_minor) for g in gpus}, reverse=True)
    return [
        (
            f"{major}{minor}",
            f"cc:{major}.{minor}",
            tuple(g for g in gpus if (g.cc_major, g.cc_minor) == (major, minor)),
        )
        for major, minor in ccs
    ]


def _selected(
    specs: Sequence[GroupSpec], gpus: Sequence[Gpu]
) -> list[tuple[str, str, tuple[Gpu, ...]]]:
    names = [spec.name for spec in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigurationError(
            f"--group names {', '.join(twice)} more than once", hint="give each group one name"
        )
    chosen = [(spec.name, spec.selector.text, select_gpus(spec, gpus)) for spec in specs]
    owner: dict[str, str] = {}
    for name, _, members in chosen:
        for gpu in members:
            if gpu.uuid in owner:
                raise ConfigurationError(
                    f"{gpu.label} is in two groups, {owner[gpu.uuid]} and {name}",
                    hint="one GPU can serve only one Ollama instance; narrow one selector",
                )
            owner[gpu.uuid] = name
    return chosen


def _group_cuda(
    name: str,
    archs: Sequence[CudaArch],
    driver: BoxDriver | None,
    *,
    generation: Generation,
    ref: OllamaVersion | None,
    preset_majors: Collection[int] | None,
) -> str:
    """The group's toolkit: that the target Ollama has a preset for (``preset_majors`` when a
    source tree says, else the generation's stock lists)."""

    def has_preset(major: int) -> bool:
        if preset_majors is not None:
            return major in preset_majors
        return generation.stock_list(major, ref) is not None

    target = f"Ollama {ref}" if ref is not None else f"Ollama {generation.name}"
    try:
        return choose_cuda(
            archs,
            driver,
            has_preset=has_preset,
            target=target,
            split="split the group (--group) so each part has one toolkit",
        )
    except PlanError as error:
        raise PlanError(f"group {name}: {error.message}", hint=error.hint) from None


def _routes(routes: Sequence[ModelRoute], names: Sequence[str]) -> tuple[ModelRoute, ...]:
    seen: dict[str, ModelRoute] = {}
    for route in routes:
        if route.group not in names:
            raise ConfigurationError(
                f"--model {route.text}: there is no group {route.group}",
                hint=f"groups: {', '.join(names)}",
            )
        earlier = seen.get(route.model)
        if earlier is not None and earlier.group != route.group:
            raise ConfigurationError(
                f"model {route.model} is routed to two groups, {earlier.group} and {route.group}",
                hint="a router sends each model to exactly one instance",
            )
        seen[route.model] = route
    return tuple(seen.values())


def _ports(count: int, base_port: int, router_port: int) -> list[int]:
    ports = [base_port + n for n in range(count)]
    if ports[-1] > 65535:
        raise ConfigurationError(
            f"--base-port {base_port} leaves no room for {count} groups", hint="pick a lower one"
        )
    if router_port in ports:
        raise ConfigurationError(
            f"--router-port {router_port} is also a group's port ({base_port}..{ports[-1]})",
            hint="move --base-port or --router-port",
        )
    return ports


def _foreign(
    name: str, plan: ArchPlan, others: Sequence[Gpu], generation: Generation
) -> tuple[tuple[GpuCoverage, ...], list[str], list[str]]:
    coverage = tuple(gpu_coverage(g, plan.archs, plan.rule, wanted=False) for g in others)
    used = [c for c in coverage if c.ollama_uses]
    warnings = [
        f"group {name}: its build would also use {c.gpu.label} if CUDA_VISIBLE_DEVICES did not "
        f"hide it ({c.reason}); only the environment keeps it off"
        for c in used
    ]
    notices = []
    if others and not used:
        notices.append(
            f"group {name}: even without CUDA_VISIBLE_DEVICES its build cannot use the other "
            f"groups' GPUs (Ollama {generation.name} {plan.rule.describe()})"
        )
    return coverage, warnings, notices


def make_deploy_plan(
    inventory: Inventory,
    *,
    specs: Sequence[GroupSpec],
    routes: Sequence[ModelRoute],
    default_group: str | None,
    ptx: PtxPolicy,
    generation: Generation,
    ref: OllamaVersion | None,
    base_port: int,
    router_port: int,
    listen: str,
    preset_majors: Collection[int] | None = None,
    target_driver: str | None = None,
) -> DeployPlan:
    gpus = inventory.gpus
    if not gpus:
        raise PlanError(
            "the inventory has no GPUs, so there is nothing to group",
            hint="pass --inventory FILE captured on the box with `detect --output FILE`",
        )
    chosen = _selected(specs, gpus) if specs else _default_specs(gpus)
    names = [name for name, _, _ in chosen]
    if default_group is not None and default_group not in names:
        raise ConfigurationError(
            f"--default-group {default_group} is not a group", hint=f"groups: {', '.join(names)}"
        )
    default = default_group or names[0]
    checked = _routes(routes, names)
    ports = _ports(len(chosen), base_port, router_port)
    driver = box_driver(inventory, target_driver)
    warnings: list[str] = []
    notices: list[str] = []
    if driver is None:
        notices.append(
            "the inventory records no driver version: each group's toolkit is chosen without "
            "checking that the box runs it (pass --target-driver VERSION)"
        )
    else:
        notices.append(f"the box has {driver.describe()}: toolkits it cannot run are not chosen")
    groups = []
    for (name, selector, members), group_port in zip(chosen, ports, strict=True):
        archs = sorted({CudaArch(g.arch_number) for g in members}, key=lambda a: a.number)
        cuda = _group_cuda(
            name, archs, driver, generation=generation, ref=ref, preset_majors=preset_majors
        )
        request = ArchRequest(
            ptx=ptx, generation=generation, ref=ref, cuda_version=cuda, driver=driver
        )
        group_inventory = Inventory(
            gpus=members,
            source=inventory.source,
            driver_version=inventory.driver_version,
            cuda_driver_version=inventory.cuda_driver_version,
            origin=inventory.origin,
        )
        try:
            arch_plan = make_arch_plan(request, group_inventory, None)
        except PlanError as error:
            raise PlanError(f"group {name}: {error.message}", hint=error.hint) from None
        others = [g for g in gpus if g not in members]
        foreign, foreign_warnings, foreign_notices = _foreign(name, arch_plan, others, generation)
        warnings += [f"group {name}: {w}" for w in arch_plan.warnings] + foreign_warnings
        notices += foreign_notices
        models = tuple(r.model for r in checked if r.group == name)
        if not models and name != default:
            warnings.append(
                f"group {name}: no model is routed to it, so the router never reaches it; "
                f"add --model NAME={name}"
            )
        groups.append(
            Group(
                name=name,
                selector=selector,
                gpus=members,
                arch_plan=arch_plan,
                port=group_port,
                models=models,
                default=name == default,
                foreign=foreign,
            )
        )
    notices.append(
        "each group's archs were checked against the built-in table of its CUDA version; "
        "`deploy build` checks them again with the real toolkit"
    )
    assigned = {g.uuid for group in groups for g in group.gpus}
    unassigned = tuple(g for g in gpus if g.uuid not in assigned)
    warnings += [f"{gpu.label} is in no group: no instance will use it" for gpu in unassigned]
    return DeployPlan(
        inventory=inventory,
        generation=generation,
        ref=ref,
        groups=tuple(groups),
        routes=checked,
        listen=listen,
        router_port=router_port,
        unassigned=unassigned,
        warnings=tuple(warnings),
        notices=tuple(notices),
    )
