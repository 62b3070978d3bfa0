"""Compose files: one service per group, its GPUs reserved by UUID.

* Docker (``compose.yaml``): ``deploy.resources.reservations.devices`` with the NVIDIA driver,
  ``device_ids`` = the group's UUIDs and ``capabilities: [gpu]`` (``count`` and ``device_ids``
  exclude each other). The container sees only those GPUs, so ``CUDA_VISIBLE_DEVICES`` is left
  out.
* Podman (``compose.podman.yaml``): CDI device names ``nvidia.com/gpu=<UUID>`` from the spec that
  ``nvidia-ctk cdi generate`` writes (older toolkits name devices by index only: then generate
  with ``--device-name-strategy=uuid``; ``nvidia-ctk cdi list`` shows what exists).

The group's build is bind-mounted read-only at ``/opt/ollama`` into a pinned image; the shared
models directory at ``/models``. Each instance publishes its port on 127.0.0.1 only: the router
(HAProxy on the host, same configuration as for the systemd units) is the endpoint.
"""

from __future__ import annotations

from typing import Any

from build_tools.deploy.instance import Layout, OllamaFacts, instance_environment
from build_tools.deploy.plan import DeployPlan, Group
from build_tools.deploy.yaml import dump_yaml

__all__ = ["CONTAINER_PORT", "render_compose", "service_name"]

CONTAINER_PORT = 11434
PROJECT = "ollama-bt"


def service_name(group: Group) -> str:
    return f"ollama-{group.name}"


def _host_path(path: str) -> str:
    """Compose knows no systemd specifiers: a --user layout's %h becomes ${HOME}."""
    return "${HOME}" + path[2:] if path.startswith("%h") else path


def _service(
    group: Group, layout: Layout, facts: OllamaFacts, image: str, *, podman: bool
) -> dict[str, Any]:
    env = instance_environment(
        group,
        facts,
        host=f"0.0.0.0:{CONTAINER_PORT}",
        models_dir="/models",
        home=None,
        visible_devices=False,
    )
    environment = dict(env)
    environment["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility"
    service: dict[str, Any] = {
        "image": image,
        "entrypoint": ["/opt/ollama/bin/ollama", "serve"],
        "restart": "unless-stopped",
        "environment": environment,
        "volumes": [
            f"{_host_path(layout.install(group))}:/opt/ollama:ro",
            f"{_host_path(layout.models_dir)}:/models",
        ],
        "ports": [f"127.0.0.1:{group.port}:{CONTAINER_PORT}"],
    }
    if podman:
        service["devices"] = [f"nvidia.com/gpu={uuid}" for uuid in group.uuids]
        service["security_opt"] = ["label=disable"]
    else:
        service["deploy"] = {
            "resources": {
                "reservations": {
                    "devices": [
                        {
                            "driver": "nvidia",
                            "device_ids": list(group.uuids),
                            "capabilities": ["gpu"],
                        }
                    ]
                }
            }
        }
    return service


def render_compose(
    plan: DeployPlan,
    layout: Layout,
    facts: dict[str, OllamaFacts],
    image: str,
    *,
    podman: bool,
) -> str:
    engine = "Podman (CDI device names)" if podman else "Docker (NVIDIA device reservations)"
    header = [
        f"# Compose for {engine}: one Ollama per GPU group; the router runs on the host.",
        "# Rendered by ollama-build-tools `deploy render`; render again instead of editing.",
    ]
    if podman:
        header.append(
            "# The names come from `nvidia-ctk cdi generate`; `nvidia-ctk cdi list` must show "
            "each UUID."
        )
    document = {
        "name": PROJECT,
        "services": {
            service_name(g): _service(g, layout, facts[g.name], image, podman=podman)
            for g in plan.groups
        },
    }
    return "\n".join(header) + "\n" + dump_yaml(document)
