"""What on the host would undo the rendered units: an ``ollama.service`` and stray drop-ins.

Read from the unit directories under ``root`` (``/`` normally; a temporary tree in tests, or a
mounted system image), never from a running systemd:

* An existing ``ollama.service`` (Ollama's install script writes
  ``/etc/systemd/system/ollama.service``, distribution packages ship one under ``/usr/lib``)
  listens on 11434 and sees every GPU; its drop-ins in ``ollama.service.d/`` are shown too.
* Drop-ins that apply to our units: systemd reads ``<unit>.d/``, and since v246 the prefix
  directories ``ollama-bt-.service.d/``, ``ollama-.service.d/`` and ``service.d/`` in every
  unit directory. A later ``Environment=`` wins, ``EnvironmentFile=`` overrides
  ``Environment=`` whatever the order, ``ExecStart=`` replaces the command.
* The manager's default environment (``DefaultEnvironment=`` in ``system.conf``/``user.conf``
  and their ``.d`` directories, ``environment.d`` for user managers) reaches every unit that does
  not set a variable itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["RELEVANT_VARIABLES", "host_warnings"]

# Variables that decide which GPUs and which address an instance uses.
RELEVANT_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "OLLAMA_HOST",
    "OLLAMA_MODELS",
    "OLLAMA_VULKAN",
    "OLLAMA_NOPRUNE",
    "GGML_VK_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",
    "OLLAMA_LLM_LIBRARY",
    "OLLAMA_SCHED_SPREAD",
)
_ALWAYS = ("EnvironmentFile", "UnsetEnvironment", "PassEnvironment", "ExecStart")
_SETTING = re.compile(r"^\s*([A-Za-z]+)\s*=(.*)$")

SYSTEM_DIRS = (
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
)
USER_DIRS = ("etc/systemd/user", "usr/local/lib/systemd/user", "usr/lib/systemd/user")
HOME_USER_DIRS = (".config/systemd/user", ".local/share/systemd/user")


def _unit_dirs(root: Path, *, user: bool, home: Path | None) -> list[Path]:
    if not user:
        return [root / d for d in SYSTEM_DIRS]
    dirs = [root / d for d in USER_DIRS]
    if home is not None:
        dirs += [root / home.relative_to("/") / d for d in HOME_USER_DIRS]
    return dirs


def _names_variable(value: str, variables: Iterable[str]) -> list[str]:
    return [v for v in variables if re.search(rf"(^|[\s\"']){re.escape(v)}=", value)]


def _overriding_lines(path: Path, variables: Sequence[str]) -> list[str]:
    """``file:line: text`` for every line that changes the environment or the command."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SETTING.match(line)
        if match is None:
            continue
        key, value = match[1], match[2]
        if key in _ALWAYS or (
            key in ("Environment", "DefaultEnvironment") and _names_variable(value, variables)
        ):
            found.append(f"{path}:{number}: {line.strip()}")
    return found


def _conf_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.conf")) if directory.is_dir() else []


def _prefix_dropin_dirs(unit: str) -> list[str]:
    """The drop-in directory names systemd reads for ``unit``, most specific first."""
    stem, _, kind = unit.rpartition(".")
    names = [f"{unit}.d"]
    parts = stem.split("-")
    for cut in range(len(parts) - 1, 0, -1):
        names.append("-".join(parts[:cut]) + f"-.{kind}.d")
    names.append(f"{kind}.d")
    return names


def _ollama_service(dirs: Sequence[Path], router_port: int, user: bool) -> list[str]:
    found = [d / "ollama.service" for d in dirs if (d / "ollama.service").exists()]
    if not found:
        return []
    wants = ("multi-user.target.wants", "default.target.wants")
    enabled = any((d / w / "ollama.service").exists() for d in dirs for w in wants)
    ctl = "systemctl --user" if user else "sudo systemctl"
    port = "it listens on 11434, the router's port, and " if router_port == 11434 else "it "
    warnings = [
        f"an existing ollama.service ({', '.join(str(p) for p in found)}"
        f"{', enabled' if enabled else ''}): {port}sees every GPU, so it competes with the "
        f"group instances; stop it with `{ctl} disable --now ollama`, or move it "
        "(OLLAMA_HOST) and hide the GPUs from it (CUDA_VISIBLE_DEVICES=-1) in a drop-in"
    ]
    for directory in dirs:
        for conf in _conf_files(directory / "ollama.service.d"):
            for line in _overriding_lines(conf, RELEVANT_VARIABLES):
                warnings.append(f"ollama.service drop-in {line}")
    return warnings


def _manager_environment(
    root: Path, *, user: bool, home: Path | None, ours: Sequence[str]
) -> list[str]:
    """Default environments that set a relevant variable the units do not set themselves."""
    others = [v for v in RELEVANT_VARIABLES if v not in ours]
    name = "user" if user else "system"
    files = [root / f"etc/systemd/{name}.conf", *_conf_files(root / f"etc/systemd/{name}.conf.d")]
    env_lines: list[str] = []
    if user:
        files += _conf_files(root / "etc/environment.d")
        if home is not None:
            files += _conf_files(root / home.relative_to("/") / ".config/environment.d")
    for path in files:
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            body = line.split("#", 1)[0]
            match = _SETTING.match(body)
            if match is not None and match[1] == "DefaultEnvironment":
                body = match[2]
            if _names_variable(body.strip(), others):
                env_lines.append(f"{path}:{number}: {line.strip()}")
    return [
        f"the {name} manager's default environment sets a variable the units leave alone: {line}"
        for line in env_lines
    ]


def host_warnings(
    root: Path,
    units: Sequence[str],
    *,
    user: bool,
    home: Path | None,
    router_port: int,
    set_variables: Sequence[str],
) -> list[str]:
    """Warnings about what on the host would change what ``units`` run."""
    dirs = _unit_dirs(root, user=user, home=home)
    warnings = _ollama_service(dirs, router_port, user)
    for unit in units:
        for name in _prefix_dropin_dirs(unit):
            for directory in dirs:
                for conf in _conf_files(directory / name):
                    for line in _overriding_lines(conf, RELEVANT_VARIABLES):
                        warnings.append(f"a drop-in overrides {unit}: {line}")
    warnings += _manager_environment(root, user=user, home=home, ours=set_variables)
    return list(dict.fromkeys(warnings))
