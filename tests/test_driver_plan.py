"""The box's driver in the plan, as a user checks it: which CUDA `plan`/`build`/`deploy` pick,
what they say about it, the error for a `--cuda` the driver cannot run, `--target-driver`, and
the GPUs Ollama drops for its driver (discover/cuda_compat.go)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.generations import OllamaVersion, registry
from build_tools.gpus.driver import parse_driver_version
from build_tools.planning.driver import BoxDriver, minimum_driver
from build_tools.toolkit.pins import MINIMUM_LINUX_DRIVERS

from boxes import SEED_BOX, inventory
from ollama_fixture import write_fixture

DRIVER_570 = {"driver_version": "570.86.15", "cuda_driver_version": "12.8"}
DRIVER_580 = {"driver_version": "580.65.06", "cuda_driver_version": "13.0"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No toolkit from the environment or PATH may decide a plan here; messages are shown."""
    for variable in ("CUDA_HOME", "CUDA_PATH", "BUILD_TOOLS_CACHE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("BUILD_TOOLS_CACHE_DIR", str(tmp_path / "cache"))
    path = os.environ.get("PATH", "").split(os.pathsep)
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in path if not Path(d, "nvcc").exists()))
    monkeypatch.setattr(reporter, "quiet", False)


def seed_box(tmp_path: Path, name: str, **fields: str) -> Path:
    """The seed box (3x RTX 3060 + 4x Tesla M10) as `detect --output` writes it."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({**inventory(SEED_BOX).to_json(), **fields}, indent=2))
    return path


def plan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def plan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    code, out, err = plan(capsys, *argv, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data, err


# --- the toolkit choice --------------------------------------------------------------------------
def test_driver_570_default_picks_cuda_12_4_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = seed_box(tmp_path, "box-570", **DRIVER_570)
    data, _ = plan_json(capsys, "--inventory", str(box), "--exclude-arch", "50")
    assert data["cuda_version"] == "12.4"
    assert data["cuda_architectures"] == "86"
    assert data["driver"]["version"] == "570.86.15"
    assert data["driver"]["source"] == "inventory"
    assert data["driver"]["ruled_out"] == [{"cuda_version": "13.0", "needs_driver": "580.65.06"}]
    code, out, err = plan(capsys, "--inventory", str(box), "--exclude-arch", "50")
    assert code == 0
    assert "CUDA 12.4)" in out + err
    why = " ".join(err.split())
    assert "CUDA 12.4 because the box has driver 570.86.15" in why
    assert "CUDA 13.0 needs driver 580.65.06 or newer" in why


def test_driver_580_picks_cuda_13_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = seed_box(tmp_path, "box-580", **DRIVER_580)
    data, _ = plan_json(capsys, "--inventory", str(box), "--exclude-arch", "50")
    assert data["cuda_version"] == "13.0"
    assert data["driver"]["ruled_out"] == []
    assert any("CUDA 13.0 runs on it" in n for n in data["notices"])


def test_cuda_13_against_the_570_box_exits_3_naming_the_driver_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = seed_box(tmp_path, "box-570", **DRIVER_570)
    code, out, err = plan(capsys, "--inventory", str(box), "--exclude-arch", "50", "--cuda", "13.0")
    assert code == 3
    assert out == ""
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "CUDA 13.0 needs driver 580.65.06 or newer" in line
    assert "570.86.15" in line
    assert "--target-driver" in line
    # Refused before anything was installed.
    assert not (tmp_path / "cache" / "toolkits").exists()


def test_target_driver_lets_cuda_13_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = seed_box(tmp_path, "box-570", **DRIVER_570)
    argv = ["--inventory", str(box), "--exclude-arch", "50", "--target-driver", "580.65.06"]
    data, _ = plan_json(capsys, *argv)
    assert data["cuda_version"] == "13.0"
    assert data["driver"]["version"] == "580.65.06"
    assert data["driver"]["source"] == "--target-driver"
    # With --cuda too: a dry run plans the pinned CUDA 13.0 without installing it.
    code = main(["--dry-run", "plan", *argv, "--cuda", "13.0", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["toolkit"]["version"] == "13.0"


def test_only_the_drivers_cuda_version_is_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = seed_box(tmp_path, "box-cuda-only", cuda_driver_version="12.8")
    data, _ = plan_json(capsys, "--inventory", str(box), "--exclude-arch", "50")
    assert data["cuda_version"] == "12.4"
    assert data["driver"]["version"] is None
    assert data["driver"]["cuda_version"] == "12.8"
    assert any("a driver that runs CUDA 12.8 at most" in n for n in data["notices"])


def test_an_inventory_without_a_driver_gives_a_notice_not_a_guess(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = seed_box(tmp_path, "box-unknown")
    data, _ = plan_json(capsys, "--inventory", str(box), "--exclude-arch", "50")
    assert data["cuda_version"] == "13.0"  # as before: nothing rules it out
    assert data["driver"]["known"] is False
    assert data["driver"]["ruled_out"] == []
    assert data["driver"]["cuda_version_needs_driver"] == "580.65.06"
    code, _, err = plan(capsys, "--inventory", str(box), "--exclude-arch", "50")
    assert code == 0
    text = " ".join(err.split())
    assert "notice: the inventory records no driver version" in text
    assert "it needs driver 580.65.06 or newer" in text


def test_a_driver_older_than_every_toolkit_is_an_error_saying_what_each_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = seed_box(tmp_path, "box-545", driver_version="545.23.08", cuda_driver_version="12.3")
    code, _, err = plan(capsys, "--inventory", str(box))
    assert code == 3
    assert "runs none of CUDA 12.4" in err
    assert "CUDA 12.4 needs driver 550.54.14 or newer" in err


def test_a_bad_target_driver_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = plan(capsys, "--arch", "86", "--target-driver", "580")
    assert code == 2
    assert "--target-driver" in err
    assert "580.65.06" in err  # the example of what is expected


def test_target_driver_is_declared_once_for_flags_profiles_and_show_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    box = seed_box(tmp_path, "box-570", **DRIVER_570)
    (tmp_path / "ollama-build.toml").write_text(
        f'[profiles.upgraded]\ninventory = "{box}"\nexclude-arch = ["50"]\n'
        'target-driver = "580.65.06"\n'
    )
    monkeypatch.chdir(tmp_path)
    data, _ = plan_json(capsys, "--profile", "upgraded")
    assert data["cuda_version"] == "13.0"
    code = main(["plan", "--profile", "upgraded", "--show-options", "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    options = {o["option"]: (o["value"], o["source"]) for o in shown["options"]}
    assert options["target-driver"] == ("580.65.06", "profile")


# --- build and deploy make the same choice ----------------------------------------------------
def test_build_picks_the_cuda_the_driver_runs_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fixture(tmp_path / "ollama", generation="G4")
    args = [
        "--dry-run", "build", "--source-dir", str(source), "--workdir", str(tmp_path / "work"),
        "--exclude-arch", "50",
    ]  # fmt: skip
    box = seed_box(tmp_path, "box-570", **DRIVER_570)
    assert main([*args, "--inventory", str(box), "--json"]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["toolkit"]["version"] == "12.4"
    assert data["plan"]["driver"]["ruled_out"] == [
        {"cuda_version": "13.0", "needs_driver": "580.65.06"}
    ]
    assert any(
        "CUDA 12.4 because the box has driver 570.86.15" in n for n in data["plan"]["notices"]
    )
    assert main([*args, "--inventory", str(box)]) == 0
    assert "CUDA 12.4 because the box has driver 570.86.15" in " ".join(
        capsys.readouterr().err.split()
    )
    newer = seed_box(tmp_path, "box-580", **DRIVER_580)
    assert main([*args, "--inventory", str(newer), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["toolkit"]["version"] == "13.0"
    assert main([*args, "--inventory", str(box), "--cuda", "13.0"]) == 3
    assert "580.65.06" in capsys.readouterr().err


def test_deploy_plan_follows_the_target_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = seed_box(tmp_path, "box-570", **DRIVER_570)

    def toolkits(*extra: str) -> list[tuple[str, str]]:
        assert main(["deploy", "plan", "--inventory", str(box), *extra, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        return [(g["name"], g["toolkit"]["version"]) for g in data["groups"]]

    assert toolkits() == [("86", "12.4"), ("50", "12.4")]
    assert toolkits("--target-driver", "580.65.06") == [("86", "13.0"), ("50", "12.4")]


# --- Ollama's own driver rules: per-GPU coverage ------------------------------------------------
def coverage(data: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(g["compute_capability"], g["ollama_uses"]) for g in data["gpus"]]


def test_a_gpu_ollama_drops_for_its_driver_is_reported_skipped_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # v0.30.0 - v0.30.11-rc0: GPUs below cc 7.0 need a 570 driver with any CUDA 12 runtime.
    box = seed_box(tmp_path, "box-560", driver_version="560.35.03", cuda_driver_version="12.6")
    data, err = plan_json(capsys, "--inventory", str(box), "--ref", "v0.30.5")
    assert data["cuda_version"] == "12.4"
    assert coverage(data) == [("8.6", True)] * 3 + [("5.0", False)] * 4
    m10 = data["gpus"][3]
    assert m10["cuda_coverage"] == "exact"  # the code is there; Ollama drops it anyway
    assert "driver (560.35.03)" in m10["reason"]
    assert "below cc 7.0 need driver 570 or newer" in m10["reason"]
    assert "discover/cuda_compat.go" in m10["reason"]
    assert sum("Tesla M10" in w and "570" in w for w in data["warnings"]) == 4
    # The human table says the same.
    code, out, err = plan(capsys, "--inventory", str(box), "--ref", "v0.30.5")
    assert code == 0
    table = [line for line in (out + err).splitlines() if "Tesla M10" in line and "skips" in line]
    assert len(table) == 4
    assert all("570 or newer" in line for line in table)
    # From v0.30.11-rc1 the floor follows the runtime: a 12.4 runtime keeps the M10 on 560.
    data, _ = plan_json(capsys, "--inventory", str(box), "--ref", "v0.32.2")
    assert coverage(data) == [("8.6", True)] * 3 + [("5.0", True)] * 4
    # A driver upgrade (planned with --target-driver) brings them back on v0.30.5 too.
    data, _ = plan_json(
        capsys, "--inventory", str(box), "--ref", "v0.30.5", "--target-driver", "570.86.15"
    )
    assert coverage(data) == [("8.6", True)] * 3 + [("5.0", True)] * 4


@pytest.mark.parametrize(
    ("ref", "runtime", "driver", "cc", "dropped"),
    [
        # v0.32.2 discover/cuda_compat.go: cudaV12 runtime >= 12.4 needs 550 for every GPU ...
        ("v0.32.2", (12, 4), 545, "8.6", True),
        ("v0.32.2", (12, 4), 550, "5.0", False),
        ("v0.32.2", (12, 2), 545, "8.6", False),
        # ... and >= 12.8 needs 570 for cc < 7.0; CUDA 13 is not filtered at all.
        ("v0.32.2", (12, 8), 560, "5.0", True),
        ("v0.32.2", (12, 8), 560, "7.0", False),
        ("v0.32.2", (12, 8), 570, "5.0", False),
        ("v0.32.2", (13, 0), 500, "5.0", False),
        # v0.30.0: cc < 7.0 needs 570 with any 12.x runtime; cuda_v13 is never filtered.
        ("v0.30.0", (12, 0), 560, "6.1", True),
        ("v0.30.0", (13, 0), 560, "6.1", False),
        ("v0.30.0", (12, 4), 545, "8.6", False),
        # Generations before G5 have no driver rules.
        ("v0.24.0", (12, 8), 400, "5.0", False),
    ],
)
def test_the_registry_rules_match_upstream(
    ref: str, runtime: tuple[int, int], driver: int, cc: str, dropped: bool
) -> None:
    version = OllamaVersion.parse(ref)
    rules = registry().for_version(version).driver_rules_at(version)
    major, minor = cc.split(".")
    assert any(r.drops((int(major), int(minor)), runtime, driver) for r in rules) is dropped


@pytest.mark.parametrize(("cuda_version", "driver"), sorted(MINIMUM_LINUX_DRIVERS.items()))
def test_each_minimum_driver_runs_its_cuda_and_the_one_before_does_not(
    cuda_version: str, driver: str
) -> None:
    parsed = parse_driver_version(driver)
    assert parsed is not None
    older = ".".join([str(parsed.parts[0] - 1), *(str(p) for p in parsed.parts[1:])])
    assert BoxDriver(version=parsed, cuda=None, source="inventory").runs(cuda_version)
    box = BoxDriver(version=parse_driver_version(older), cuda=None, source="inventory")
    assert not box.runs(cuda_version)
    # An update release (12.4.1) needs its minor's row.
    assert minimum_driver(f"{cuda_version}.1") == parsed


def test_a_cuda_version_between_two_rows_needs_at_least_the_older_rows_driver() -> None:
    assert minimum_driver("12.7") == parse_driver_version(MINIMUM_LINUX_DRIVERS["12.6"])
    assert minimum_driver("11.8") is None  # no row of that major: the table does not say


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ('[{ driver_below = "570" }]', "'driver_below' has the wrong type"),
        ('[{ driver_below = 570, cuda = "12" }]', "'cuda' must be a CUDA version"),
        ('[{ driver_below = 570, below_cc = "seven" }]', "'below_cc' must be a compute"),
        ('[{ driver_below = 570, runtime = "12.4" }]', "unknown key 'runtime'"),
    ],
)
def test_bad_driver_rules_in_the_registry_name_the_row(rules: str, message: str) -> None:
    row = '[G9]\ntitle = "x"\nfirst_tag = "v9.0.0"\n[G9.runtime]\nrule = "exact"\n'
    row += f'[G9.tree]\nfiles = ["x"]\n[[G9.driver_rules]]\nsince = "v9.0.0"\nrules = {rules}\n'
    with pytest.raises(ConfigurationError, match=message) as caught:
        registry().with_rows(row)
    assert "G9" in str(caught.value)
