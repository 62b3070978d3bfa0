"""``deploy render``: write the chosen formats of a deploy plan into a directory.

Layout of the directory (``deploy.json`` records which files belong to which format)::

    deploy.json                     the plan every file was rendered from; `deploy verify` reads it
    systemd/ollama-bt-<G>.service   one per group (system units, or --user units)
    systemd/ollama-bt-router.service, systemd/ollama-bt.target, systemd/README.txt
    compose/compose.yaml            Docker: GPUs reserved by UUID
    compose/compose.podman.yaml     Podman: CDI device names
    router/haproxy.cfg, router/models.map, router/litellm.yaml, router/open-webui.env
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_tools import __version__
from build_tools.deploy.compose import render_compose
from build_tools.deploy.hostcheck import host_warnings
from build_tools.deploy.instance import (
    Layout,
    OllamaFacts,
    facts_of_install,
    instance_environment,
    plan_facts,
)
from build_tools.deploy.manifest import (
    MANIFEST,
    SCHEMA,
    manifest_plan,
    plan_digest,
    read_manifest_data,
)
from build_tools.deploy.plan import DeployPlan
from build_tools.deploy.routers import (
    render_haproxy,
    render_litellm,
    render_models_map,
    render_open_webui,
)
from build_tools.deploy.systemd import (
    NVIDIA_MODPROBE,
    ROUTER_UNIT,
    TARGET,
    render_instance_unit,
    render_router_unit,
    render_systemd_readme,
    render_target,
    unit_name,
)
from build_tools.errors import ConfigurationError
from build_tools.settings.deploy import Format, Router

__all__ = ["Rendered", "render_deployment"]


@dataclass(frozen=True, kw_only=True)
class Rendered:
    directory: Path
    files: tuple[Path, ...]
    warnings: tuple[str, ...]
    notices: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "files": [str(p) for p in self.files],
            "warnings": list(self.warnings),
            "notices": list(self.notices),
        }


def _local(path: str, home: Path | None) -> Path | None:
    """A layout path on this machine (%h expanded), or None when the home is unknown."""
    if path.startswith("%h"):
        return None if home is None else Path(str(home) + path[2:])
    return Path(path)


def _facts(
    plan: DeployPlan, layout: Layout, home: Path | None
) -> tuple[dict[str, OllamaFacts], list[str]]:
    fallback = plan_facts(plan)
    facts: dict[str, OllamaFacts] = {}
    notices = []
    for group in plan.groups:
        binary = _local(layout.binary(group), home)
        if binary is not None and binary.is_file():
            facts[group.name] = facts_of_install(binary, fallback)
        else:
            facts[group.name] = fallback
            notices.append(
                f"group {group.name}: {layout.binary(group)} is not installed yet "
                "(python -m build_tools deploy build --prefix ...); the Ollama facts come from "
                f"{fallback.source}"
            )
    return facts, notices


def _check_existing(output: Path, digest: str, formats: Sequence[Format]) -> dict[str, Any]:
    """The formats of an existing rendering to keep (same plan), or an error when they would
    no longer match the plan."""
    existing = read_manifest_data(output / MANIFEST)
    if existing is None:
        return {}
    old = existing.get("formats")
    old_formats = old if isinstance(old, dict) else {}
    if existing.get("digest") == digest:
        return {k: v for k, v in old_formats.items() if k not in formats}
    stale = sorted(set(old_formats) - set(formats))
    if stale:
        raise ConfigurationError(
            f"{output} holds {', '.join(stale)} files rendered from another plan (groups, ports "
            "or models differ), which would no longer fit the new files",
            hint="render every format again (leave out --format) or choose another --output",
        )
    return {}


def _remove_previous(output: Path, entry: Any) -> None:
    """Delete the files an earlier rendering of this format wrote."""
    if not isinstance(entry, dict):
        return
    for name in entry.get("files", []):
        if isinstance(name, str) and ".." not in name and not name.startswith("/"):
            (output / name).unlink(missing_ok=True)


@dataclass
class _Writer:
    output: Path
    dry_run: bool
    written: list[Path] = field(default_factory=list)

    def __call__(self, relative: str, text: str) -> str:
        path = self.output / relative
        self.written.append(path)
        if not self.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return relative


def _systemd(
    plan: DeployPlan,
    layout: Layout,
    facts: dict[str, OllamaFacts],
    write: _Writer,
    *,
    router: bool,
    host_root: Path,
    home: Path | None,
) -> tuple[dict[str, Any], list[str]]:
    modprobe = not layout.user and (host_root / NVIDIA_MODPROBE.lstrip("/")).is_file()
    units = {
        g.name: write(
            f"systemd/{unit_name(g)}",
            render_instance_unit(g, layout, facts[g.name], nvidia_modprobe=modprobe),
        )
        for g in plan.groups
    }
    files = list(units.values())
    entry: dict[str, Any] = {"user": layout.user, "units": units}
    if router:
        entry["router_unit"] = write(f"systemd/{ROUTER_UNIT}", render_router_unit(plan, layout))
        files.append(entry["router_unit"])
    files.append(write(f"systemd/{TARGET}", render_target(plan, layout, router=router)))
    files.append(write("systemd/README.txt", render_systemd_readme(plan, layout, router=router)))
    entry["files"] = files
    set_variables = [
        key
        for g in plan.groups
        for key, _ in instance_environment(
            g, facts[g.name], host="", models_dir="", home=layout.home
        )
    ]
    warnings = host_warnings(
        host_root,
        [unit_name(g) for g in plan.groups] + [ROUTER_UNIT, TARGET],
        user=layout.user,
        home=home,
        router_port=plan.router_port,
        set_variables=set_variables,
    )
    return entry, warnings


def _compose(
    plan: DeployPlan, layout: Layout, facts: dict[str, OllamaFacts], write: _Writer, image: str
) -> dict[str, Any]:
    docker = render_compose(plan, layout, facts, image, podman=False)
    podman = render_compose(plan, layout, facts, image, podman=True)
    return {
        "files": [
            write("compose/compose.yaml", docker),
            write("compose/compose.podman.yaml", podman),
        ]
    }


def _routers(
    plan: DeployPlan, routers: Sequence[Router], write: _Writer
) -> tuple[dict[str, Any], list[str]]:
    entry: dict[str, Any] = {}
    warnings = []
    if "haproxy" in routers:
        entry["haproxy"] = write("router/haproxy.cfg", render_haproxy(plan))
        entry["map"] = write("router/models.map", render_models_map(plan))
    if "litellm" in routers:
        entry["litellm"] = write("router/litellm.yaml", render_litellm(plan))
        if not plan.routes:
            warnings.append(
                "litellm.yaml routes no model: LiteLLM serves only the models named by --model"
            )
    entry["open_webui"] = write("router/open-webui.env", render_open_webui(plan))
    entry["files"] = list(entry.values())
    return entry, warnings


def render_deployment(
    plan: DeployPlan,
    layout: Layout,
    *,
    formats: Sequence[Format],
    routers: Sequence[Router],
    image: str,
    output: Path,
    host_root: Path,
    home: Path | None,
    dry_run: bool = False,
) -> Rendered:
    """Write the files (under ``dry_run`` only say which) and return what was written."""
    data = manifest_plan(plan, {g.name: layout.install(g) for g in plan.groups})
    digest = plan_digest(data)
    kept = _check_existing(output, digest, formats)
    previous = read_manifest_data(output / MANIFEST) or {}
    facts, notices = _facts(plan, layout, home)
    write = _Writer(output, dry_run)
    if not dry_run:
        output.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            _remove_previous(output, (previous.get("formats") or {}).get(fmt))
    warnings: list[str] = []
    entries: dict[str, Any] = {}
    if "systemd" in formats:
        entries["systemd"], found = _systemd(
            plan,
            layout,
            facts,
            write,
            router="haproxy" in routers,
            host_root=host_root,
            home=home,
        )
        warnings += found
    if "compose" in formats:
        entries["compose"] = _compose(plan, layout, facts, write, image)
    if "router" in formats:
        entries["router"], found = _routers(plan, routers, write)
        warnings += found
    manifest = {
        "schema": SCHEMA,
        "tool": f"ollama-build-tools {__version__}",
        "digest": digest,
        "plan": data,
        "formats": {**kept, **entries},
    }
    write(MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return Rendered(
        directory=output,
        files=tuple(write.written),
        warnings=tuple(warnings),
        notices=tuple(notices),
    )
