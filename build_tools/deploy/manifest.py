"""``deploy.json``: what ``deploy render`` wrote into a directory, and what ``deploy verify``
reads back (strictly: a hand-edited manifest fails with what is wrong, exit 8).

``plan`` is the part every format is rendered from (groups, ports, models, router, Ollama);
``formats`` names the files of each format rendered so far. Rendering a subset of formats into a
directory that holds a rendering of another plan is refused, so the files in one directory
always belong together.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.deploy.plan import DeployPlan
from build_tools.errors import ConfigurationError, UnreadableArtifactError
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.gpus.inventory import Gpu
from build_tools.gpus.selection import GROUP_NAME, UUID
from build_tools.planning.archs import CudaArch, parse_arch_list
from build_tools.settings.deploy import MODEL_NAME

__all__ = [
    "MANIFEST",
    "SCHEMA",
    "DeployedGroup",
    "Deployment",
    "manifest_plan",
    "plan_digest",
    "read_deployment",
    "read_manifest_data",
]

MANIFEST = "deploy.json"
SCHEMA = 1
_RELATIVE_FILE = re.compile(r"^[a-z0-9-]+(?:/[A-Za-z0-9._-]+)+$")
_CC = re.compile(r"^\d{1,2}\.\d$")


def manifest_plan(plan: DeployPlan, installs: Mapping[str, str]) -> dict[str, Any]:
    """The plan as the manifest records it: everything the renderings were made from."""
    return {
        "ollama": {
            "generation": plan.generation.name,
            "ref": None if plan.ref is None else str(plan.ref),
        },
        "router": {"listen": plan.listen, "port": plan.router_port},
        "default_group": plan.default_group.name,
        "models": {route.model: route.group for route in plan.routes},
        "groups": [
            {
                "name": group.name,
                "port": group.port,
                "install": installs[group.name],
                "cuda_version": group.cuda_version,
                "cuda_architectures": group.arch_plan.cuda_architectures,
                "gpus": [
                    {
                        "index": gpu.index,
                        "uuid": gpu.uuid,
                        "name": gpu.name,
                        "compute_capability": gpu.compute_capability,
                    }
                    for gpu in group.gpus
                ],
                "models": list(group.models),
                "default": group.default,
            }
            for group in plan.groups
        ],
    }


def plan_digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def read_manifest_data(path: Path) -> dict[str, Any] | None:
    """An existing manifest as JSON (None when there is none); not yet checked."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UnreadableArtifactError(
            f"{path} is not a deploy manifest: {error}", hint="render the directory again"
        ) from None
    if not isinstance(data, dict):
        raise UnreadableArtifactError(f"{path} is not a deploy manifest")
    return data


# --- reading for verify -----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class DeployedGroup:
    name: str
    port: int
    install: str
    gpus: tuple[Gpu, ...]
    archs: tuple[CudaArch, ...]
    models: tuple[str, ...]
    default: bool
    unit: Path | None  # the rendered systemd unit, when systemd was rendered


@dataclass(frozen=True, kw_only=True)
class Deployment:
    directory: Path
    generation: Generation
    ref: OllamaVersion | None
    listen: str
    router_port: int
    groups: tuple[DeployedGroup, ...]
    user: bool  # the systemd units are --user units
    router_unit: Path | None
    haproxy: tuple[Path, Path] | None  # haproxy.cfg, models.map
    litellm: Path | None

    @property
    def default_group(self) -> DeployedGroup:
        return next(g for g in self.groups if g.default)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, what: str) -> UnreadableArtifactError:
        return UnreadableArtifactError(
            f"{self.path}: {where} {what}",
            hint="render the directory again with `deploy render`",
        )

    def get(
        self, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str
    ) -> Any:
        value = data.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise self.fail(f"{where}.{key}", "is missing or has the wrong type")
        return value

    def text(self, data: Mapping[str, Any], key: str, pattern: re.Pattern[str], where: str) -> str:
        value: str = self.get(data, key, str, where)
        if not pattern.match(value):
            raise self.fail(f"{where}.{key}", f"is not valid: {value!r}")
        return value

    def file(self, directory: Path, value: Any, where: str) -> Path:
        if not isinstance(value, str) or not _RELATIVE_FILE.match(value) or ".." in value:
            raise self.fail(where, f"is not a file of the rendering: {value!r}")
        path = directory / value
        if not path.is_file():
            raise self.fail(where, f"names {path}, which does not exist")
        return path


def _gpu(reader: _Reader, data: Any, where: str) -> Gpu:
    if not isinstance(data, dict):
        raise reader.fail(where, "is not an object")
    cc = reader.text(data, "compute_capability", _CC, where)
    major, minor = cc.split(".")
    index = reader.get(data, "index", int, where)
    name = reader.get(data, "name", str, where)
    uuid = reader.text(data, "uuid", UUID, where)
    return Gpu(index=index, uuid=uuid, name=name, cc_major=int(major), cc_minor=int(minor))


def _group(
    reader: _Reader, data: Any, where: str, units: Mapping[str, Any], directory: Path
) -> DeployedGroup:
    if not isinstance(data, dict):
        raise reader.fail(where, "is not an object")
    name = reader.text(data, "name", GROUP_NAME, where)
    port = reader.get(data, "port", int, where)
    if not 1 <= port <= 65535:
        raise reader.fail(f"{where}.port", f"is not a port: {port}")
    gpus = tuple(
        _gpu(reader, g, f"{where}.gpus[{n}]")
        for n, g in enumerate(reader.get(data, "gpus", list, where))
    )
    try:
        archs = tuple(
            a
            for a in parse_arch_list([reader.get(data, "cuda_architectures", str, where)])
            if isinstance(a, CudaArch)
        )
    except (ConfigurationError, ValueError):
        raise reader.fail(f"{where}.cuda_architectures", "is not an arch list") from None
    models = reader.get(data, "models", list, where)
    if not all(isinstance(m, str) and MODEL_NAME.match(m) for m in models):
        raise reader.fail(f"{where}.models", "holds a name that is not a model name")
    unit = (
        reader.file(directory, units[name], f"formats.systemd.units.{name}")
        if name in units
        else None
    )
    return DeployedGroup(
        name=name,
        port=port,
        install=reader.get(data, "install", str, where),
        gpus=gpus,
        archs=archs,
        models=tuple(models),
        default=reader.get(data, "default", bool, where),
        unit=unit,
    )


def read_deployment(directory: Path) -> Deployment:
    path = directory / MANIFEST
    data = read_manifest_data(path)
    if data is None:
        raise ConfigurationError(
            f"{directory} has no {MANIFEST}",
            hint="pass a directory written by `python -m build_tools deploy render --output DIR`",
        )
    reader = _Reader(path)
    if data.get("schema") != SCHEMA:
        raise reader.fail("schema", f"is not {SCHEMA}")
    plan = reader.get(data, "plan", dict, "")
    formats = reader.get(data, "formats", dict, "")
    systemd = formats.get("systemd") or {}
    units = systemd.get("units") or {} if isinstance(systemd, dict) else {}
    if not isinstance(units, dict):
        raise reader.fail("formats.systemd.units", "is not an object")
    ollama = reader.get(plan, "ollama", dict, "plan")
    try:
        generation = registry().get(reader.get(ollama, "generation", str, "plan.ollama"))
        ref_text = ollama.get("ref")
        ref = OllamaVersion.parse(ref_text) if isinstance(ref_text, str) else None
    except ConfigurationError as error:
        raise reader.fail("plan.ollama", error.message) from None
    router = reader.get(plan, "router", dict, "plan")
    groups = tuple(
        _group(reader, g, f"plan.groups[{n}]", units, directory)
        for n, g in enumerate(reader.get(plan, "groups", list, "plan"))
    )
    if not groups or sum(g.default for g in groups) != 1:
        raise reader.fail("plan.groups", "must hold groups with exactly one default")
    routers = formats.get("router") or {}
    if not isinstance(routers, dict):
        raise reader.fail("formats.router", "is not an object")
    haproxy = None
    if "haproxy" in routers:
        haproxy = (
            reader.file(directory, routers["haproxy"], "formats.router.haproxy"),
            reader.file(directory, routers.get("map"), "formats.router.map"),
        )
    litellm = (
        reader.file(directory, routers["litellm"], "formats.router.litellm")
        if "litellm" in routers
        else None
    )
    router_unit = systemd.get("router_unit") if isinstance(systemd, dict) else None
    return Deployment(
        directory=directory,
        generation=generation,
        ref=ref,
        listen=reader.get(router, "listen", str, "plan.router"),
        router_port=reader.get(router, "port", int, "plan.router"),
        groups=groups,
        user=bool(systemd.get("user")) if isinstance(systemd, dict) else False,
        router_unit=None
        if router_unit is None
        else reader.file(directory, router_unit, "formats.systemd.router_unit"),
        haproxy=haproxy,
        litellm=litellm,
    )
