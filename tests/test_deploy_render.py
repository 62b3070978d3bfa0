"""`deploy render`: systemd units, compose files and router configurations, each checked by
the parser of the program that will read it (systemd-analyze, the compose-spec schema; HAProxy
in test_deploy_verify.py), plus the host checks and the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from build_tools.__main__ import main
from build_tools.deploy.check import device_checks
from build_tools.deploy.manifest import read_deployment
from build_tools.deploy.unitfile import read_unit
from build_tools.errors import UnreadableArtifactError

from boxes import SEED_BOX, inventory, uuid_for, write_json_inventory
from deploy_support import make_fake_install, systemd_verify

SEED_3060 = [uuid_for(i, "NVIDIA GeForce RTX 3060") for i in range(3)]
SEED_M10 = [uuid_for(i, "Tesla M10") for i in range(3, 7)]
ROUTES = ["--model", "llama3.1:8b=86", "--model", "nomic-embed-text=50"]


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    return write_json_inventory(tmp_path / "seed.json", SEED_BOX)


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    """Both groups' installs (systemd-analyze needs ExecStart to exist)."""
    root = tmp_path / "opt"
    for group in ("86", "50"):
        make_fake_install(root / group)
    return root


@pytest.fixture
def haproxy(tmp_path: Path) -> Path:
    """A stand-in for the router's program: systemd-analyze checks that each ExecStart program
    is executable, and this machine need not have Debian's haproxy (the default path is checked
    in test_systemd_analyze_does_fail_on_a_bad_unit)."""
    program = tmp_path / "sbin" / "haproxy"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    return program


@pytest.fixture
def host(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    root.mkdir()
    return root


def render(
    capsys: pytest.CaptureFixture[str], seed: Path, out: Path, *argv: str
) -> tuple[int, str]:
    code = main(["deploy", "render", "--inventory", str(seed), "--output", str(out), *argv])
    return code, capsys.readouterr().err


def rendered(
    capsys: pytest.CaptureFixture[str], seed: Path, out: Path, host: Path, *argv: str
) -> str:
    code, err = render(capsys, seed, out, "--host-root", str(host), *ROUTES, *argv)
    assert code == 0, err
    return err


def unit_env(path: Path) -> dict[str, str]:
    return read_unit(path, home=Path("/home/someone")).environment


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


# --- systemd ----------------------------------------------------------------------------------
def test_seed_box_units_pass_systemd_analyze_and_name_exactly_their_gpus(
    capsys: pytest.CaptureFixture[str],
    seed: Path,
    prefix: Path,
    host: Path,
    tmp_path: Path,
    *,
    haproxy: Path,
) -> None:
    out = tmp_path / "deploy"
    rendered(
        capsys,
        seed,
        out,
        host,
        "--format",
        "systemd",
        "--prefix",
        str(prefix),
        "--haproxy",
        str(haproxy),
    )
    systemd = out / "systemd"
    units = sorted(systemd.glob("*.service")) + sorted(systemd.glob("*.target"))
    assert [u.name for u in units] == [
        "ollama-bt-50.service",
        "ollama-bt-86.service",
        "ollama-bt-router.service",
        "ollama-bt.target",
    ]
    result = systemd_verify(units, user=False, tmp_path=tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr

    for group, uuids, port in (("86", SEED_3060, 11501), ("50", SEED_M10, 11502)):
        unit = systemd / f"ollama-bt-{group}.service"
        command = read_unit(unit, home=None)
        assert command.argv == (str(prefix / group / "bin" / "ollama"), "serve")
        assert command.environment == {
            "HOME": "/usr/share/ollama",
            "OLLAMA_HOST": f"127.0.0.1:{port}",
            "OLLAMA_MODELS": "/usr/share/ollama/.ollama/models",
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": ",".join(uuids),
            "OLLAMA_VULKAN": "0",  # G5 turns Vulkan on by default
        }
        text = unit.read_text()
        assert "User=ollama\n" in text
        assert "PrivateDevices=" not in text  # it would hide /dev/nvidia*
        assert "DeviceAllow=char-nvidia-uvm rw\n" in text
        assert "ReadWritePaths=/usr/share/ollama/.ollama\n" in text
        assert "ExecStartPre" not in text  # no nvidia-modprobe on this host
    target = (systemd / "ollama-bt.target").read_text()
    assert "Wants=ollama-bt-86.service ollama-bt-50.service ollama-bt-router.service\n" in target
    router = (systemd / "ollama-bt-router.service").read_text()
    assert (
        f"ExecStart={haproxy} -C /etc/ollama-build-tools/router -f "
        "/etc/ollama-build-tools/router/haproxy.cfg -Ws" in router
    )


def test_systemd_analyze_does_fail_on_a_bad_unit(
    capsys: pytest.CaptureFixture[str], seed: Path, prefix: Path, host: Path, tmp_path: Path
) -> None:
    """The check above can fail: a wrong value is a warning on stderr (exit code 0)."""
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host, "--format", "systemd", "--prefix", str(prefix))
    router = (out / "systemd" / "ollama-bt-router.service").read_text()
    assert "ExecStart=/usr/sbin/haproxy -C /etc/ollama-build-tools/router " in router  # default
    unit = out / "systemd" / "ollama-bt-86.service"
    unit.write_text(unit.read_text().replace("Restart=always", "Restart=sometimes"))
    result = systemd_verify([unit], user=False, tmp_path=tmp_path)
    assert result.returncode == 0
    assert "Failed to parse service restart specifier, ignoring: sometimes" in result.stderr


def test_user_units_pass_systemd_analyze_user(
    capsys: pytest.CaptureFixture[str],
    seed: Path,
    prefix: Path,
    host: Path,
    tmp_path: Path,
    *,
    haproxy: Path,
) -> None:
    out = tmp_path / "deploy"
    rendered(
        capsys,
        seed,
        out,
        host,
        "--format",
        "systemd",
        "--user",
        "--prefix",
        str(prefix),
        "--haproxy",
        str(haproxy),
    )
    systemd = out / "systemd"
    units = sorted(systemd.glob("*.service")) + sorted(systemd.glob("*.target"))
    result = systemd_verify(units, user=True, tmp_path=tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    text = (systemd / "ollama-bt-50.service").read_text()
    assert "User=" not in text
    assert "Environment=OLLAMA_MODELS=%h/.ollama/models\n" in text
    assert unit_env(systemd / "ollama-bt-50.service")["OLLAMA_MODELS"] == (
        "/home/someone/.ollama/models"
    )
    assert "WantedBy=default.target" in (systemd / "ollama-bt.target").read_text()
    assert "loginctl enable-linger" in (systemd / "README.txt").read_text()


def test_percent_h_needs_user_units(
    capsys: pytest.CaptureFixture[str], seed: Path, tmp_path: Path
) -> None:
    code, err = render(capsys, seed, tmp_path / "d", "--prefix", "%h/ollama-bt")
    assert code == 2
    assert "only exists in --user units" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {"OLLAMA_VULKAN"}),  # G5 (newest): Vulkan on by default, prunes safely
        (["--ref", "v0.32.2"], {"OLLAMA_VULKAN"}),
        (["--ref", "v0.24.0"], set()),  # G4: Vulkan off by default
        (["--ref", "v0.20.0"], {"OLLAMA_NOPRUNE"}),  # before the prune grace period (v0.21.0)
        (["--ref", "v0.21.0"], set()),
        (["--ollama-generation", "G4"], {"OLLAMA_NOPRUNE"}),  # G4's oldest release decides
    ],
)
def test_vulkan_and_pruning_settings_follow_the_release(
    capsys: pytest.CaptureFixture[str],
    seed: Path,
    tmp_path: Path,
    argv: list[str],
    expected: set[str],
) -> None:
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, tmp_path, "--format", "systemd", *argv)
    env = unit_env(out / "systemd" / "ollama-bt-86.service")
    assert {"OLLAMA_VULKAN", "OLLAMA_NOPRUNE"} & set(env) == expected


def test_nvidia_modprobe_runs_first_where_the_host_has_it(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    (host / "usr" / "bin").mkdir(parents=True)
    (host / "usr" / "bin" / "nvidia-modprobe").write_text("")
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host, "--format", "systemd")
    text = (out / "systemd" / "ollama-bt-86.service").read_text()
    assert "ExecStartPre=-+/usr/bin/nvidia-modprobe -u -c=0\n" in text


# --- host checks ------------------------------------------------------------------------------
def test_existing_ollama_service_and_overriding_drop_ins_are_warned_about(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    etc = host / "etc" / "systemd" / "system"
    (etc / "multi-user.target.wants").mkdir(parents=True)
    (etc / "ollama.service").write_text("[Service]\nExecStart=/usr/local/bin/ollama serve\n")
    (etc / "multi-user.target.wants" / "ollama.service").symlink_to(etc / "ollama.service")
    (etc / "ollama.service.d").mkdir()
    (etc / "ollama.service.d" / "override.conf").write_text(
        '[Service]\nEnvironment="CUDA_VISIBLE_DEVICES=0"\nEnvironment="OLLAMA_DEBUG=1"\n'
    )
    (etc / "service.d").mkdir()
    (etc / "service.d" / "all.conf").write_text("[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0\n")
    (etc / "ollama-bt-86.service.d").mkdir()
    (etc / "ollama-bt-86.service.d" / "mine.conf").write_text(
        "[Service]\nEnvironmentFile=/etc/default/ollama\n"
    )
    (etc / "nginx.service.d").mkdir()
    (etc / "nginx.service.d" / "x.conf").write_text("[Service]\nEnvironment=OLLAMA_HOST=x\n")
    usr = host / "usr" / "lib" / "systemd" / "system" / "ollama-.service.d"
    usr.mkdir(parents=True)
    (usr / "vendor.conf").write_text("[Service]\nUnsetEnvironment=CUDA_DEVICE_ORDER\n")
    (host / "etc" / "systemd" / "system.conf.d").mkdir()
    (host / "etc" / "systemd" / "system.conf.d" / "env.conf").write_text(
        "[Manager]\nDefaultEnvironment=OLLAMA_SCHED_SPREAD=1 CUDA_VISIBLE_DEVICES=1\n"
    )
    err = rendered(capsys, seed, tmp_path / "deploy", host, "--format", "systemd")
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert any(
        f"an existing ollama.service ({etc / 'ollama.service'}, enabled): it listens on 11434" in w
        for w in warnings
    )
    assert any(
        "ollama.service drop-in" in w and 'Environment="CUDA_VISIBLE_DEVICES=0"' in w
        for w in warnings
    )
    assert not any("OLLAMA_DEBUG" in w for w in warnings)  # not a variable that matters here
    for unit in ("ollama-bt-86.service", "ollama-bt-50.service", "ollama-bt-router.service"):
        assert any(f"overrides {unit}" in w and "service.d/all.conf" in w for w in warnings)
        assert any(f"overrides {unit}" in w and "UnsetEnvironment" in w for w in warnings)
    assert any("overrides ollama-bt-86.service" in w and "EnvironmentFile" in w for w in warnings)
    assert not any("overrides ollama-bt-50.service" in w and "mine.conf" in w for w in warnings)
    assert not any("nginx.service.d" in w for w in warnings)
    # The manager's default environment matters for the variables the units leave alone.
    assert any("OLLAMA_SCHED_SPREAD=1" in w for w in warnings)


def test_a_clean_host_gives_no_warnings(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    err = rendered(capsys, seed, tmp_path / "deploy", host)
    assert "warning" not in err


# --- compose ----------------------------------------------------------------------------------
def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    checker = Path(sys.executable).parent / "check-jsonschema"
    if not checker.is_file():
        pytest.fail("check-jsonschema is part of the test extra: pip install -e '.[test]'")
    return subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_files_pass_the_compose_spec_schema_and_reserve_gpus_by_uuid(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host, "--format", "compose")
    docker, podman = out / "compose" / "compose.yaml", out / "compose" / "compose.podman.yaml"
    for path in (docker, podman):
        result = check_compose(path)
        assert result.returncode == 0, result.stdout + result.stderr

    services = load_yaml(docker)["services"]
    assert list(services) == ["ollama-86", "ollama-50"]
    for name, uuids, port in (("ollama-86", SEED_3060, 11501), ("ollama-50", SEED_M10, 11502)):
        service = services[name]
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device == {"driver": "nvidia", "device_ids": uuids, "capabilities": ["gpu"]}
        assert "count" not in device  # count and device_ids exclude each other
        assert service["ports"] == [f"127.0.0.1:{port}:11434"]
        assert "CUDA_VISIBLE_DEVICES" not in service["environment"]
        assert service["environment"]["OLLAMA_VULKAN"] == "0"  # a string, not a number
        assert service["image"].split("@")[1].startswith("sha256:")
    pod = load_yaml(podman)["services"]["ollama-50"]
    assert pod["devices"] == [f"nvidia.com/gpu={u}" for u in SEED_M10]
    assert "deploy" not in pod


def test_the_schema_check_does_fail_on_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text('services:\n  a:\n    image: "x"\n    enviroment: {}\n')
    assert check_compose(broken).returncode == 1


def test_user_compose_paths_use_home(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host, "--format", "compose", "--user", "--prefix", "%h/obt")
    volumes = load_yaml(out / "compose" / "compose.yaml")["services"]["ollama-86"]["volumes"]
    assert volumes == ["${HOME}/obt/86:/opt/ollama:ro", "${HOME}/.ollama/models:/models"]


# --- routers ----------------------------------------------------------------------------------
def test_router_files_route_each_model_to_its_group(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    everywhere = "0.0.0.0"  # noqa: S104 - the router is asked to serve the LAN
    rendered(capsys, seed, out, host, "--format", "router", "--listen", everywhere)
    router = out / "router"
    mapping = [line for line in (router / "models.map").read_text().splitlines() if line[:1] != "#"]
    assert mapping == ["llama3.1:8b group_86", "nomic-embed-text group_50"]
    cfg = (router / "haproxy.cfg").read_text()
    assert "bind 0.0.0.0:11434\n" in cfg
    assert "backend group_86\n    server 86 127.0.0.1:11501\n" in cfg
    assert "backend group_50\n    server 50 127.0.0.1:11502\n" in cfg
    assert "default_backend group_86\n" in cfg

    litellm = load_yaml(router / "litellm.yaml")
    assert litellm["model_list"] == [
        {
            "model_name": "llama3.1:8b",
            "litellm_params": {
                "model": "ollama_chat/llama3.1:8b",
                "api_base": "http://127.0.0.1:11501",
            },
        },
        {
            "model_name": "nomic-embed-text",
            "litellm_params": {
                "model": "ollama_chat/nomic-embed-text",
                "api_base": "http://127.0.0.1:11502",
            },
        },
    ]
    assert litellm["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert "litellm[proxy]==1.106.12" in (router / "litellm.yaml").read_text()

    env = (router / "open-webui.env").read_text().splitlines()
    assert "OLLAMA_BASE_URL=http://127.0.0.1:11434" in env
    (configs,) = [line for line in env if line.startswith("# OLLAMA_API_CONFIGS=")]
    assert json.loads(configs.split("=", 1)[1]) == {
        "0": {"model_ids": ["llama3.1:8b"]},
        "1": {"model_ids": ["nomic-embed-text:latest"]},
    }


def test_a_litellm_rendering_without_models_is_warned_about(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    code, err = render(capsys, seed, tmp_path / "d", "--host-root", str(host), "--format", "router")
    assert code == 0
    assert "litellm.yaml routes no model" in err


# --- the manifest and re-rendering ------------------------------------------------------------
def test_the_manifest_is_what_verify_reads(
    capsys: pytest.CaptureFixture[str], seed: Path, prefix: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host, "--prefix", str(prefix))
    deployment = read_deployment(out)
    assert [(g.name, g.port, g.default, g.models) for g in deployment.groups] == [
        ("86", 11501, True, ("llama3.1:8b",)),
        ("50", 11502, False, ("nomic-embed-text",)),
    ]
    assert [g.uuid for g in deployment.groups[1].gpus] == SEED_M10
    assert deployment.groups[0].unit == out / "systemd" / "ollama-bt-86.service"
    assert deployment.haproxy == (out / "router" / "haproxy.cfg", out / "router" / "models.map")
    assert deployment.litellm == out / "router" / "litellm.yaml"
    assert deployment.generation.name == "G5"

    data = json.loads((out / "deploy.json").read_text())
    data["plan"]["groups"][0]["gpus"][0]["uuid"] = "GPU-nonsense"
    (out / "deploy.json").write_text(json.dumps(data))
    with pytest.raises(UnreadableArtifactError, match=r"plan\.groups\[0\]\.gpus\[0\]\.uuid"):
        read_deployment(out)


def test_rendering_one_format_of_another_plan_into_the_same_directory_is_refused(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host)
    # Same plan, one format again: fine, the others stay recorded.
    rendered(capsys, seed, out, host, "--format", "router")
    assert set(json.loads((out / "deploy.json").read_text())["formats"]) == {
        "systemd",
        "compose",
        "router",
    }
    code, err = render(
        capsys, seed, out, "--host-root", str(host), "--model", "x=50", "--format", "router"
    )
    assert code == 2
    assert "holds compose, systemd files rendered from another plan" in err
    # Every format again replaces the old rendering, files of vanished groups included.
    code, err = render(capsys, seed, out, "--host-root", str(host), "--group", "all=cc:8.6,5.0")
    assert code == 0, err
    assert sorted(p.name for p in (out / "systemd").glob("*.service")) == [
        "ollama-bt-all.service",
        "ollama-bt-router.service",
    ]


def test_dry_run_writes_nothing(
    capsys: pytest.CaptureFixture[str], seed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    code = main(["--dry-run", "deploy", "render", "--inventory", str(seed), "--output", str(out)])
    assert code == 0
    assert f"would write {out / 'systemd' / 'ollama-bt-86.service'}" in capsys.readouterr().err
    assert not out.exists()


def test_units_with_quoting_deploy_render_never_writes_are_not_read(tmp_path: Path) -> None:
    unit = tmp_path / "x.service"
    unit.write_text('[Service]\nExecStart=/bin/true\nEnvironment="A=b c"\n')
    with pytest.raises(UnreadableArtifactError, match="is not KEY=VALUE"):
        read_unit(unit, home=None)
    unit.write_text("[Service]\nExecStart=/bin/true\nEnvironment=A=%n\n")
    with pytest.raises(UnreadableArtifactError, match="specifiers"):
        read_unit(unit, home=None)
    unit.write_text("[Unit]\nExecStart=/bin/true\n")
    with pytest.raises(UnreadableArtifactError, match="no ExecStart"):
        read_unit(unit, home=None)


# --- the per-device report of deploy verify, from instance logs as a GPU box writes them -----
def _g5_device(index: int, name: str, cc: str) -> str:
    return (
        'time=x level=INFO source=types.go:42 msg="inference compute" '
        f'id={index} filter_id="" library=CUDA compute={cc} name=CUDA{index} '
        f'description="{name}" libdirs=ollama,cuda_v12 driver=12.8 pci_id=0000:1{index}:00.0 '
        'type=discrete total="12.0 GiB" available="11.8 GiB"'
    )


def test_each_instance_log_is_checked_against_its_own_group(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    code, err = render(
        capsys, seed, out, "--host-root", str(host),
        "--group", "two=index:0,1", "--group", "one=index:2", "--group", "m10=cc:5.0",
        "--model", "x=one", "--model", "y=m10",
    )  # fmt: skip
    assert code == 0, err
    deployment = read_deployment(out)
    two, one, m10 = deployment.groups
    local = inventory(SEED_BOX).gpus
    rtx, tesla = "NVIDIA GeForce RTX 3060", "Tesla M10"
    # G5 logs devices by index: the instance of group "one" sees one 3060, and that is GPU 2.
    checks = device_checks(one, deployment, local, [_g5_device(0, rtx, "8.6")])
    assert [(c.gpu.index, c.observed) for c in checks if c.observed == "used"] == [(2, "used")]
    assert [c.problem for c in checks if c.problem] == []
    checks = device_checks(m10, deployment, local, [_g5_device(n, tesla, "5.0") for n in range(4)])
    assert sorted(c.gpu.index for c in checks if c.observed == "used") == [3, 4, 5, 6]
    assert [c.problem for c in checks if c.problem] == []
    # A device beyond the group's own is another group's GPU: a leak, and it fails.
    checks = device_checks(one, deployment, local, [_g5_device(n, rtx, "8.6") for n in range(2)])
    (problem,) = [c.problem for c in checks if c.problem]
    assert "GPU 0 NVIDIA GeForce RTX 3060" in problem
    assert "this Ollama used it" in problem
    # The group of two sees both of its GPUs.
    checks = device_checks(two, deployment, local, [_g5_device(n, rtx, "8.6") for n in range(2)])
    assert sorted(c.gpu.index for c in checks if c.observed == "used") == [0, 1]


def test_verify_refuses_units_whose_ollama_is_not_installed(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host, "--prefix", str(tmp_path / "nothing-here"))
    code = main(["deploy", "verify", str(out), "--haproxy", "/bin/true"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"group 86's unit runs {tmp_path / 'nothing-here' / '86' / 'bin' / 'ollama'}" in err
    assert "which is not installed here" in err


def test_verify_needs_the_units_and_the_router_it_runs(
    capsys: pytest.CaptureFixture[str], seed: Path, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    rendered(capsys, seed, out, host, "--format", "router", "--router", "haproxy")
    assert main(["deploy", "verify", str(out)]) == 2
    assert "has no systemd units for group(s) 86, 50" in capsys.readouterr().err
    rendered(capsys, seed, out, host, "--format", "systemd", "--router", "haproxy")
    assert main(["deploy", "verify", str(out), "--router", "litellm"]) == 2
    assert "has no LiteLLM configuration" in capsys.readouterr().err
    assert main(["deploy", "verify", str(tmp_path)]) == 2
    assert f"{tmp_path} has no deploy.json" in capsys.readouterr().err
