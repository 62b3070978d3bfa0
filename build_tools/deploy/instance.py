"""What every group's instance is run with, whatever runs it (systemd, compose, ``deploy
verify``): the host layout, the facts of the Ollama being run, and the environment.

Facts about Ollama that decide the environment (source: github.com/ollama/ollama):

* ``CUDA_VISIBLE_DEVICES`` takes GPU UUIDs (``GPU-...``, as ``nvidia-smi -L`` prints them);
  indexes would depend on the enumeration order, so UUIDs it is, plus
  ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so that any index in a log matches ``nvidia-smi``.
* From v0.30 a shipped Vulkan backend is used by default and shows the GPUs CUDA was told to
  hide (ollama/ollama#16508): ``OLLAMA_VULKAN=0`` where the generation turns it on
  (``vulkan_default_on`` in the generation registry).
* Every instance shares one ``OLLAMA_MODELS``. Before v0.21.0 a starting server pruned blobs
  another server was still writing (fixed by a one-hour grace period, upstream #15628), so older
  releases get ``OLLAMA_NOPRUNE=1``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from build_tools.audit.gobinary import read_go_strings
from build_tools.deploy.plan import DeployPlan, Group
from build_tools.errors import ConfigurationError
from build_tools.generations import Generation, OllamaVersion, registry

__all__ = [
    "PRUNE_SAFE_SINCE",
    "Layout",
    "OllamaFacts",
    "facts_of_install",
    "instance_environment",
    "plan_facts",
]

PRUNE_SAFE_SINCE = OllamaVersion.parse("v0.21.0")
VERSION_VARIABLE = "github.com/ollama/ollama/version.Version"
SYSTEM_HOME = "/usr/share/ollama"  # the ollama account's home in Ollama's install script


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Where things live on the host the rendering is for (paths already validated)."""

    user: bool  # systemd --user units
    prefix: str  # group G's build is in <prefix>/<G>
    models_dir: str
    service_user: str
    config_dir: str  # the router's files
    haproxy: str

    @classmethod
    def of(
        cls,
        *,
        user: bool,
        prefix: str,
        models_dir: str | None,
        service_user: str,
        config_dir: str | None,
        haproxy: str,
    ) -> Layout:
        if not user and (prefix.startswith("%h") or (models_dir or "").startswith("%h")):
            raise ConfigurationError(
                "%h (the user's home) only exists in --user units", hint="add --user"
            )
        default_models = "%h/.ollama/models" if user else f"{SYSTEM_HOME}/.ollama/models"
        default_config = (
            "%h/.config/ollama-build-tools/router" if user else "/etc/ollama-build-tools/router"
        )
        return cls(
            user=user,
            prefix=prefix,
            models_dir=models_dir or default_models,
            service_user=service_user,
            config_dir=config_dir or default_config,
            haproxy=haproxy,
        )

    @property
    def home(self) -> str | None:
        """HOME of the system units (Ollama writes its key pair to ~/.ollama); the user
        manager sets HOME itself."""
        return None if self.user else SYSTEM_HOME

    def install(self, group: Group) -> str:
        return f"{self.prefix}/{group.name}"

    def binary(self, group: Group) -> str:
        return f"{self.install(group)}/bin/ollama"


@dataclass(frozen=True, kw_only=True)
class OllamaFacts:
    """The Ollama a group runs: its generation, and its release when known."""

    generation: Generation
    version: OllamaVersion | None
    source: str  # where the facts come from, for the rendered comments

    @property
    def vulkan_off(self) -> bool:
        return self.generation.vulkan_default_on

    @property
    def noprune(self) -> bool:
        """Whether a shared models directory needs OLLAMA_NOPRUNE=1 (releases before v0.21.0;
        when only the generation is known, its oldest release decides)."""
        oldest = self.version or self.generation.first_tag
        return oldest < PRUNE_SAFE_SINCE


def _parse_version(text: str) -> OllamaVersion | None:
    with contextlib.suppress(ConfigurationError):
        return OllamaVersion.parse(text if text.startswith("v") else f"v{text}")
    return None


def facts_of_install(binary: Path, fallback: OllamaFacts) -> OllamaFacts:
    """The release recorded in an installed ``bin/ollama`` (our builds keep the symbol), else
    ``fallback`` (the plan's --ref or generation)."""
    try:
        with binary.open("rb") as stream:
            values = read_go_strings(stream, [VERSION_VARIABLE])
    except OSError:
        return fallback
    version = _parse_version(values.get(VERSION_VARIABLE, ""))
    if version is None:
        return fallback
    try:
        generation = registry().for_version(version)
    except ConfigurationError:
        return fallback
    return OllamaFacts(generation=generation, version=version, source=str(binary))


def plan_facts(plan: DeployPlan) -> OllamaFacts:
    source = f"--ref {plan.ref}" if plan.ref is not None else f"Ollama {plan.generation.name}"
    return OllamaFacts(generation=plan.generation, version=plan.ref, source=source)


def instance_environment(
    group: Group,
    facts: OllamaFacts,
    *,
    host: str,
    models_dir: str,
    home: str | None,
    visible_devices: bool = True,
) -> list[tuple[str, str]]:
    """The instance's environment, in the order it is written. ``visible_devices`` is False
    for containers, which see only their reserved GPUs anyway."""
    env: list[tuple[str, str]] = []
    if home is not None:
        env.append(("HOME", home))
    env += [("OLLAMA_HOST", host), ("OLLAMA_MODELS", models_dir)]
    env.append(("CUDA_DEVICE_ORDER", "PCI_BUS_ID"))
    if visible_devices:
        env.append(("CUDA_VISIBLE_DEVICES", ",".join(group.uuids)))
    if facts.vulkan_off:
        env.append(("OLLAMA_VULKAN", "0"))
    if facts.noprune:
        env.append(("OLLAMA_NOPRUNE", "1"))
    return env
