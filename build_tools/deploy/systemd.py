"""systemd units: one service per group, the router's service, and a target for the set.

Names start with ``ollama-bt-`` so they never clash with Ollama's own ``ollama.service`` (and so
that drop-ins in ``ollama.service.d/`` do not apply to them). One ``Environment=KEY=VALUE`` per
line, unquoted: every value was checked against a strict pattern (no blanks, quotes, ``$`` or
``%`` except a leading ``%h``), and ``deploy verify`` reads the units back line by line.

Hardening of the system units (all checked with ``systemd-analyze verify``): ``PrivateDevices``
stays off - it would hide ``/dev/nvidia*`` - and the device cgroup allows exactly the NVIDIA
nodes (the list NixOS ships, nixpkgs#331069); ``ProtectSystem=strict`` with the Ollama state and
models directories writable. ``--user`` units get only ``NoNewPrivileges``: the user manager of
systemd 252 has no device controller and mount-namespace options need a user namespace there.
"""

from __future__ import annotations

from build_tools.deploy.instance import Layout, OllamaFacts, instance_environment
from build_tools.deploy.plan import DeployPlan, Group

__all__ = [
    "NVIDIA_MODPROBE",
    "ROUTER_UNIT",
    "TARGET",
    "render_instance_unit",
    "render_router_unit",
    "render_systemd_readme",
    "render_target",
    "unit_name",
]

TARGET = "ollama-bt.target"
ROUTER_UNIT = "ollama-bt-router.service"
NVIDIA_MODPROBE = "/usr/bin/nvidia-modprobe"
_PROTECTED_TREES = ("/home", "/root", "/run/user")
_DEVICES = ("char-nvidiactl", "char-nvidia-frontend", "char-nvidia-uvm", "char-nvidia-caps")


def unit_name(group: Group) -> str:
    return f"ollama-bt-{group.name}.service"


def _header(what: str) -> list[str]:
    return [
        f"# {what}",
        "# Rendered by ollama-build-tools `deploy render`; render again instead of editing, and",
        "# put local changes into a drop-in (systemctl edit UNIT).",
    ]


def _writable(layout: Layout) -> list[str]:
    assert layout.home is not None
    state = f"{layout.home}/.ollama"
    paths = [state]
    if not (layout.models_dir == state or layout.models_dir.startswith(f"{state}/")):
        paths.append(layout.models_dir)
    return paths


def _protect_home(layout: Layout) -> str:
    paths = [layout.models_dir, layout.prefix, layout.home or ""]
    under = any(p == t or p.startswith(f"{t}/") for p in paths for t in _PROTECTED_TREES)
    return "read-only" if under else "yes"


def render_instance_unit(
    group: Group, layout: Layout, facts: OllamaFacts, *, nvidia_modprobe: bool
) -> str:
    ccs = ", ".join(group.compute_capabilities)
    count = len(group.gpus)
    lines = _header(
        f"Group {group.name}: {count} GPU(s) of compute capability {ccs}; built for "
        f"{group.arch_plan.cuda_architectures} with CUDA {group.cuda_version}; Ollama facts "
        f"from {facts.source}"
    )
    lines += [
        "[Unit]",
        f"Description=Ollama for GPU group {group.name} ({count} GPUs, compute capability "
        f"{ccs}; ollama-build-tools)",
    ]
    if not layout.user:
        lines += [
            "After=network-online.target nvidia-persistenced.service",
            "Wants=network-online.target",
        ]
    lines += [f"PartOf={TARGET}", "", "[Service]", "Type=exec"]
    if not layout.user:
        lines += [f"User={layout.service_user}", f"Group={layout.service_user}"]
        if nvidia_modprobe:
            # Creates /dev/nvidia-uvm when missing; '+' runs it outside the sandbox (it is
            # setuid, which NoNewPrivileges would block), '-' ignores its failure.
            lines.append(f"ExecStartPre=-+{NVIDIA_MODPROBE} -u -c=0")
    lines.append(f"ExecStart={layout.binary(group)} serve")
    env = instance_environment(
        group,
        facts,
        host=f"127.0.0.1:{group.port}",
        models_dir=layout.models_dir,
        home=layout.home,
    )
    lines += [f"Environment={key}={value}" for key, value in env]
    lines += ["Restart=always", "RestartSec=3", "TimeoutStopSec=30", "LimitNOFILE=65536"]
    if layout.user:
        lines += ["NoNewPrivileges=yes"]
    else:
        lines += [
            "",
            "# Hardening that keeps the GPUs usable: no PrivateDevices (it hides /dev/nvidia*),",
            "# the device cgroup allows the NVIDIA nodes instead.",
            "DevicePolicy=closed",
            *(f"DeviceAllow={device} rw" for device in _DEVICES),
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            *(f"ReadWritePaths={path}" for path in _writable(layout)),
            f"ProtectHome={_protect_home(layout)}",
            "PrivateTmp=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictNamespaces=yes",
            "RestrictRealtime=yes",
            "RestrictSUIDSGID=yes",
            "LockPersonality=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
            "SystemCallArchitectures=native",
            "CapabilityBoundingSet=",
            "UMask=0027",
        ]
    lines += ["", "[Install]", f"WantedBy={TARGET}", ""]
    return "\n".join(lines)


def render_router_unit(plan: DeployPlan, layout: Layout) -> str:
    config = f"{layout.config_dir}/haproxy.cfg"
    haproxy = f"{layout.haproxy} -C {layout.config_dir} -f {config}"
    groups = " ".join(unit_name(g) for g in plan.groups)
    lines = _header(
        f"The router: one endpoint on {plan.listen}:{plan.router_port} in front of the group "
        "instances (HAProxy, routes by the request's model)"
    )
    lines += [
        "[Unit]",
        "Description=Router in front of the Ollama group instances (HAProxy; ollama-build-tools)",
    ]
    if not layout.user:
        lines += ["After=network-online.target " + groups, "Wants=network-online.target"]
    else:
        lines += [f"After={groups}"]
    lines += [
        f"PartOf={TARGET}",
        "",
        "[Service]",
        "Type=notify",
        "# -C: models.map is found relative to the configuration directory",
        f"ExecStartPre={haproxy} -c -q",
        f"ExecStart={haproxy} -Ws -p %t/ollama-bt-router/haproxy.pid",
        f"ExecReload={haproxy} -c -q",
        "ExecReload=/bin/kill -USR2 $MAINPID",
        "RuntimeDirectory=ollama-bt-router",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
    ]
    if not layout.user:
        lines += [
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
        ]
    lines += ["", "[Install]", f"WantedBy={TARGET}", ""]
    return "\n".join(lines)


def render_target(plan: DeployPlan, layout: Layout, *, router: bool) -> str:
    units = [unit_name(g) for g in plan.groups] + ([ROUTER_UNIT] if router else [])
    lines = _header("Every group instance and the router: systemctl enable --now " + TARGET)
    lines += [
        "[Unit]",
        "Description=Ollama group instances and their router (ollama-build-tools)",
        f"Wants={' '.join(units)}",
        "",
        "[Install]",
        f"WantedBy={'default.target' if layout.user else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


def render_systemd_readme(plan: DeployPlan, layout: Layout, *, router: bool) -> str:
    units = [unit_name(g) for g in plan.groups] + ([ROUTER_UNIT] if router else []) + [TARGET]
    if layout.user:
        steps = [
            "mkdir -p ~/.config/systemd/user",
            "cp " + " ".join(units) + " ~/.config/systemd/user/",
            "systemctl --user daemon-reload",
            f"systemctl --user enable --now {TARGET}",
            "loginctl enable-linger $USER      # keep them running without a login session",
        ]
        config = layout.config_dir.replace("%h", "~")
    else:
        models = layout.models_dir
        steps = [
            f"id {layout.service_user} || sudo useradd -r -s /bin/false -U -m -d "
            f"/usr/share/ollama {layout.service_user}",
            f"sudo install -d -o {layout.service_user} -g {layout.service_user} -m 0750 "
            f"/usr/share/ollama/.ollama {models}",
            "sudo cp " + " ".join(units) + " /etc/systemd/system/",
            "sudo systemctl daemon-reload",
            f"sudo systemctl enable --now {TARGET}",
        ]
        config = layout.config_dir
    lines = [
        "Install (the group builds must be in place: python -m build_tools deploy build):",
        "",
        *(f"  {step}" for step in steps),
        "",
    ]
    if router:
        lines += [
            f"The router unit reads {config}/haproxy.cfg and models.map: copy them there "
            "from ../router/.",
            "",
        ]
    lines += [
        "Check what systemd will really run (drop-ins included):",
        "",
        *(f"  systemctl{' --user' if layout.user else ''} cat {unit_name(g)}" for g in plan.groups),
        f"  systemctl{' --user' if layout.user else ''} show -p Environment "
        f"{unit_name(plan.groups[0])}",
        "  systemd-delta --type=extended,overridden",
        "",
    ]
    return "\n".join(lines)
