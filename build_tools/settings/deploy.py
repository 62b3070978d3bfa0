"""Settings of ``deploy plan|build|render|verify`` and the parsers of their values.

Every value that ends up in a rendered file (group and model names, paths, addresses, ports) is
checked here against a strict pattern, so that the renderers never have to escape anything a
unit file, a YAML document, a HAProxy map or a shell would read differently.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from build_tools.gpus.selection import GroupSpec, parse_group_name, parse_group_spec
from build_tools.planning.archs import PtxPolicy
from build_tools.settings import parse
from build_tools.settings.declare import REQUIRED, group, option
from build_tools.settings.groups import (
    CacheSettings,
    CompileSettings,
    DriverSettings,
    InventorySettings,
    LlamaCppSettings,
    PackageSettings,
    PatchSettings,
    SourceSettings,
    TargetSettings,
    WorkdirSettings,
)
from build_tools.settings.pins import DEFAULT_BASE_IMAGE

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_PREFIX",
    "DEFAULT_ROUTER_PORT",
    "FORMATS",
    "MODEL_NAME",
    "ROUTERS",
    "DeployBuildSettings",
    "DeployPlanSettings",
    "DeployRenderSettings",
    "DeployVerifySettings",
    "EndpointSettings",
    "Format",
    "GroupingSettings",
    "ModelRoute",
    "Router",
    "listen_address",
    "model_name",
    "model_route",
    "port",
    "unit_path",
]

Format = Literal["systemd", "compose", "router"]
FORMATS: tuple[Format, ...] = get_args(Format)
Router = Literal["haproxy", "litellm"]
ROUTERS: tuple[Router, ...] = get_args(Router)

DEFAULT_BASE_PORT = 11501
DEFAULT_ROUTER_PORT = 11434  # Ollama's own default: clients work unchanged behind the router
DEFAULT_PREFIX = "/opt/ollama-bt"

# Ollama model names: [host/][namespace/]model[:tag]. No blanks, quotes, '#', '=' or '%': the
# name goes into a HAProxy map, YAML, a JSON string and an environment file unescaped.
MODEL_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,79}){0,2}"
    r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,79})?$"
)
# Absolute paths of safe characters only (no blanks, quotes, '$', '%', '\\', ';'), optionally
# starting with systemd's %h (the user's home) for --user units.
_UNIT_PATH = re.compile(r"^(?:%h)?(?:/[A-Za-z0-9._+-]+)+/?$")


@dataclass(frozen=True)
class ModelRoute:
    """``--model MODEL=GROUP``: requests for MODEL go to GROUP's instance."""

    model: str  # as routed: lower case, without ':latest' (what the router compares)
    group: str

    @property
    def text(self) -> str:
        return f"{self.model}={self.group}"


def model_name(text: str) -> str:
    """An Ollama model name, normalised the way the router compares names: lower case, and
    ``:latest`` dropped (``llama3.1:latest`` and ``llama3.1`` are the same model)."""
    if not MODEL_NAME.match(text):
        raise ValueError(
            f"{text!r} is not an Ollama model name such as llama3.1:8b or "
            "hf.co/user/repo:Q4_K_M (letters, digits, '.', '_', '-', '/' and one ':tag')"
        )
    name = text.lower()
    return name.removesuffix(":latest")


def model_route(text: str) -> ModelRoute:
    """``MODEL=GROUP``, e.g. ``llama3.1:8b=86``."""
    model, equals, name = text.partition("=")
    if not equals:
        raise ValueError(f"{text!r} is not MODEL=GROUP (e.g. llama3.1:8b=86)")
    return ModelRoute(model=model_name(model), group=parse_group_name(name))


def port(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if not 1024 <= value <= 65535:
        raise ValueError("expected a TCP port from 1024 to 65535 (no privileges needed)")
    return value


def listen_address(text: str) -> str:
    """An IPv4 or IPv6 address literal for the router to listen on."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError("expected an IP address such as 127.0.0.1, 0.0.0.0 or ::1") from None


def unit_path(text: str) -> str:
    """An absolute path (or one starting with %h, the user's home in a --user unit) of letters,
    digits and ``._+-`` only: it is written unquoted into units, compose files and configs."""
    if not _UNIT_PATH.match(text) or "/../" in f"{text}/" or "/./" in f"{text}/":
        raise ValueError(
            "expected an absolute path of letters, digits, '.', '_', '+', '-' and '/' (or one "
            "starting with %h/ for --user units), without '..'"
        )
    return text.rstrip("/") if text not in ("/", "%h/") else text


@dataclass(frozen=True, kw_only=True)
class GroupingSettings:
    """Which GPUs form which group, and which models each group serves."""

    inventory: InventorySettings = group("GPU inventory", InventorySettings)
    driver: DriverSettings = group("GPU inventory", DriverSettings)
    groups: tuple[GroupSpec, ...] = option(
        (),
        "--group",
        kind="list",
        metavar="NAME=SELECTOR",
        parse=parse_group_spec,
        help="a group of GPUs served by one Ollama (repeatable). SELECTOR: cc:8.6, "
        "index:0,1, name:*M10*, GPU UUIDs (GPU-...), or several joined with '+'. Default: one "
        "group per distinct compute capability, named after it (86, 50)",
    )
    models: tuple[ModelRoute, ...] = option(
        (),
        "--model",
        kind="list",
        metavar="MODEL=GROUP",
        parse=model_route,
        help="route requests for MODEL to GROUP's instance (repeatable); a name without a tag "
        "routes every tag of it. Models not named go to the default group",
    )
    default_group: str | None = option(
        None,
        "--default-group",
        metavar="NAME",
        parse=parse_group_name,
        help="the group that serves every model not named by --model (default: the first "
        "group; without --group, the one with the highest compute capability)",
    )
    ptx: PtxPolicy = option(
        PtxPolicy.HIGHEST,
        "--ptx",
        choices=tuple(p.value for p in PtxPolicy),
        parse=parse.ptx_policy,
        help="PTX in each group's build, as for plan (default: highest)",
    )


@dataclass(frozen=True, kw_only=True)
class EndpointSettings:
    base_port: int = option(
        DEFAULT_BASE_PORT,
        "--base-port",
        metavar="PORT",
        parse=port,
        help=f"the first group's port on 127.0.0.1; the next groups count up (default: "
        f"{DEFAULT_BASE_PORT})",
    )
    router_port: int = option(
        DEFAULT_ROUTER_PORT,
        "--router-port",
        metavar="PORT",
        parse=port,
        help=f"the one endpoint clients use (default: {DEFAULT_ROUTER_PORT}, Ollama's own port)",
    )
    listen: str = option(
        "127.0.0.1",
        "--listen",
        metavar="ADDRESS",
        parse=listen_address,
        help="the address the router listens on (default: 127.0.0.1; 0.0.0.0 for the LAN)",
    )


@dataclass(frozen=True, kw_only=True)
class DeployPlanSettings:
    grouping: GroupingSettings = group("groups", GroupingSettings)
    endpoint: EndpointSettings = group("endpoint", EndpointSettings)
    target: TargetSettings = group("target Ollama", TargetSettings)


@dataclass(frozen=True, kw_only=True)
class DeployBuildSettings:
    grouping: GroupingSettings = group("groups", GroupingSettings)
    source: SourceSettings = group("source", SourceSettings)
    llama_cpp: LlamaCppSettings = group("source", LlamaCppSettings)
    patches: PatchSettings = group("patches", PatchSettings)
    workdir: WorkdirSettings = group("build", WorkdirSettings)
    compile: CompileSettings = group("build", CompileSettings)
    package: PackageSettings = group("package", PackageSettings)
    cache: CacheSettings = group("CUDA toolkit", CacheSettings)
    prefix: str = option(
        DEFAULT_PREFIX,
        "--prefix",
        metavar="DIR",
        parse=unit_path,
        help=f"install each group's build into DIR/<group> (default: {DEFAULT_PREFIX}; "
        "render's --prefix must match)",
    )


@dataclass(frozen=True, kw_only=True)
class DeployRenderSettings:
    grouping: GroupingSettings = group("groups", GroupingSettings)
    endpoint: EndpointSettings = group("endpoint", EndpointSettings)
    target: TargetSettings = group("target Ollama", TargetSettings)
    output: Path = option(
        REQUIRED,
        "--output",
        "-o",
        metavar="DIR",
        parse=parse.path,
        help="directory to write into: deploy.json plus systemd/, compose/, router/",
    )
    formats: tuple[Format, ...] = option(
        FORMATS,
        "--format",
        kind="list",
        unique=True,
        choices=FORMATS,
        help="what to render (repeatable; default: all): systemd units, compose files for "
        "Docker and Podman, router configurations",
    )
    routers: tuple[Router, ...] = option(
        ROUTERS,
        "--router",
        kind="list",
        unique=True,
        choices=ROUTERS,
        help="router configurations to render (repeatable; default: both): haproxy (native "
        "/api and OpenAI /v1, run by the router unit) and litellm (OpenAI /v1 only)",
    )
    user: bool = option(
        False,
        "--user",
        kind="switch",
        help="systemd --user units (~/.config/systemd/user) instead of system units",
    )
    prefix: str = option(
        DEFAULT_PREFIX,
        "--prefix",
        metavar="DIR",
        parse=unit_path,
        help=f"where the groups' builds are installed, DIR/<group>/bin/ollama (default: "
        f"{DEFAULT_PREFIX}); %%h/... for --user units",
    )
    models_dir: str | None = option(
        None,
        "--models-dir",
        metavar="DIR",
        parse=unit_path,
        help="the OLLAMA_MODELS directory every instance shares (default: "
        "/usr/share/ollama/.ollama/models, with --user %%h/.ollama/models)",
    )
    service_user: str = option(
        "ollama",
        "--service-user",
        metavar="NAME",
        parse=parse.profile_name,
        help="the account system units run as (default: ollama, as Ollama's install script)",
    )
    config_dir: str | None = option(
        None,
        "--config-dir",
        metavar="DIR",
        parse=unit_path,
        help="where the router files are installed (default: /etc/ollama-build-tools/router, "
        "with --user %%h/.config/ollama-build-tools/router)",
    )
    haproxy: str = option(
        "/usr/sbin/haproxy",
        "--haproxy",
        metavar="PATH",
        parse=unit_path,
        help="the haproxy the router unit runs (default: /usr/sbin/haproxy, Debian's package)",
    )
    image: str = option(
        DEFAULT_BASE_IMAGE,
        "--image",
        metavar="IMAGE@sha256:...",
        parse=parse.pinned_image,
        help="the compose services' image, pinned by digest; the group's build is "
        "bind-mounted into it (default: the Debian image the builds target)",
    )
    host_root: Path = option(
        Path("/"),
        "--host-root",
        metavar="DIR",
        parse=parse.path,
        help="where to look for an existing ollama.service, drop-ins and nvidia-modprobe "
        "(default: /; another root checks a mounted system image)",
    )


@dataclass(frozen=True, kw_only=True)
class DeployVerifySettings:
    directory: Path = option(
        REQUIRED,
        "directory",
        kind="positional",
        metavar="DIR",
        parse=parse.path,
        help="a directory written by `deploy render` (systemd and router formats)",
    )
    router: Router = option(
        "haproxy",
        "--router",
        choices=ROUTERS,
        help="the rendered router to run in front of the instances (default: haproxy)",
    )
    haproxy: Path | None = option(
        None,
        "--haproxy",
        metavar="PATH",
        parse=parse.path,
        help="the haproxy to run (default: the router unit's, else haproxy on PATH)",
    )
    litellm: Path | None = option(
        None,
        "--litellm",
        metavar="PATH",
        parse=parse.path,
        help="the litellm command of a venv with litellm[proxy] (default: litellm on PATH)",
    )
    timeout: float = option(
        120.0,
        "--timeout",
        metavar="SECONDS",
        parse=parse.seconds,
        help="limit for each instance and the router to answer, and for each request "
        "(default: 120)",
    )
    keep: bool = option(
        False,
        "--keep",
        kind="switch",
        help="keep the temporary directory (logs, models, router config)",
    )
