"""Build profiles: a TOML file of named option sets; defaults < profile < command line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.errors import ConfigurationError
from build_tools.settings.commands import BuildSettings, PlanSettings, profile_options
from build_tools.settings.declare import resolve
from build_tools.settings.profiles import load_profiles

from boxes import SEED_BOX, write_json_inventory

REPO = Path(__file__).resolve().parent.parent

THREE_PROFILES = """\
[profiles.cuda12-no-maxwell]
description = "CUDA 12 without Maxwell"
cuda = "12.4"
arch = ["preset"]
exclude-arch = ["50", "52", "120"]
inventory = "seed.json"

[profiles.cuda13-ampere]
description = "CUDA 13 for Ampere+"
cuda = "13.0"
arch = ["preset"]
min-arch = "8.0"
inventory = "seed.json"

[profiles.lab-sm86]
description = "sm_86 only for the lab box"
arch = ["86"]
inventory = "seed.json"
workdir = "work"   # a build-only option: valid in a profile that also drives `plan`
"""


@pytest.fixture(autouse=True)
def no_system_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with ollama-build.toml (three profiles) and the seed box, as cwd."""
    write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    (tmp_path / "ollama-build.toml").write_text(THREE_PROFILES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def options_of(data: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    return {o["option"]: (o["value"], o["source"]) for o in data["options"]}


# --- three profiles drive `plan` -------------------------------------------------------------
@pytest.mark.usefixtures("project")
@pytest.mark.parametrize(
    ("profile", "cuda_architectures"),
    [
        # v0.24.0's (G4) CUDA 12 stock list without Maxwell (and 120, which needs CUDA 12.8).
        pytest.param(
            "cuda12-no-maxwell", "60;61;70;75;80;86;89;90;90a", marks=pytest.mark.toolchain
        ),
        # Its CUDA 13 list is PTX-only, as Ollama ships it; from 8.0 up.
        pytest.param(
            "cuda13-ampere",
            "80-virtual;86-virtual;87-virtual;89-virtual;90-virtual;90a-virtual;100-virtual;"
            "103-virtual;110-virtual;120-virtual;121-virtual",
            marks=pytest.mark.toolchain,
        ),
        ("lab-sm86", "86"),
    ],
)
def test_each_profile_drives_plan(
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    profile: str,
    cuda_architectures: str,
) -> None:
    # A profile that names a CUDA version plans against that (installed, cached) toolkit.
    toolkit = {"cuda12-no-maxwell": "cuda12_toolkit", "cuda13-ampere": "cuda13_toolkit"}
    if profile in toolkit:
        request.getfixturevalue(toolkit[profile])
    data = run_json(capsys, "plan", "--profile", profile, "--ref", "v0.24.0", "--json")
    assert data["cuda_architectures"] == cuda_architectures
    assert data["inventory"]["gpu_count"] == len(SEED_BOX)  # seed.json, relative to the file


@pytest.mark.usefixtures("project")
def test_show_options_names_every_source(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys,
        "plan", "--profile", "cuda12-no-maxwell", "--exclude-arch", "50",
        "--ptx", "all", "--show-options", "--json",
    )  # fmt: skip
    assert data["profile"] == "cuda12-no-maxwell"
    options = options_of(data)
    assert options["cuda"] == ("12.4", "profile")
    assert options["arch"] == (["preset"], "profile")
    # The command line replaces the profile's list instead of extending it.
    assert options["exclude-arch"] == (["50"], "command line")
    assert options["ptx"] == ("all", "command line")
    assert options["min-arch"] == (None, "default")
    assert options["inventory"][1] == "profile"
    assert Path(options["inventory"][0]).is_absolute()
    assert "profile" not in options  # choosing the profile is not itself an option


@pytest.mark.usefixtures("project")
def test_show_options_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--profile", "lab-sm86", "--arch", "75", "--show-options"]) == 0
    err = capsys.readouterr().err
    assert "profile lab-sm86" in err
    assert "command line" in err
    assert "default" in err


@pytest.mark.usefixtures("project")
def test_build_show_options_takes_build_only_keys(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "build", "--profile", "lab-sm86", "--show-options", "--json")
    options = options_of(data)
    assert options["workdir"][1] == "profile"
    assert Path(options["workdir"][0]) == Path.cwd() / "work"
    assert options["ref"] == ("v0.24.0", "default")
    assert options["compiler-cache"] == ("auto", "default")


def test_without_profile_everything_is_default_or_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("BUILD_TOOLS_CACHE_DIR", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(variable, raising=False)
    data = run_json(capsys, "plan", "--arch", "86", "--show-options", "--json")
    assert data["profile"] is None
    sources = {source for _, source in options_of(data).values()}
    assert sources == {"default", "command line"}


# --- errors: what is wrong and what to do ----------------------------------------------------
def write_profiles(project: Path, text: str) -> None:
    (project / "ollama-build.toml").write_text(textwrap.dedent(text))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("exlude-arch = ['50']", "unknown option 'exlude-arch' (did you mean 'exclude-arch'?"),
        ("cdua = '12.4'", "did you mean 'cuda'?"),
        ("ptx = 'hihgest'", "is 'hihgest', not one of none, highest, all (did you mean 'highest'?"),
        ("arch = 86", None),  # a scalar for a repeatable option is fine
        ("min-arch = ['7.5', '8.0']", "'min-arch' takes one value, not a list"),
        ("force = 'yes'", "'force' is a switch: write true or false"),
        ("jobs = 'many'", "'jobs' has an invalid value 'many'"),
        ("show-options = true", "unknown option 'show-options'"),
    ],
)
def test_bad_profile_values_are_configuration_errors(
    project: Path, capsys: pytest.CaptureFixture[str], body: str, expected: str | None
) -> None:
    write_profiles(project, f"[profiles.p]\n{body}\n")
    code = main(["plan", "--profile", "p", "--inventory", "seed.json", "--json"])
    err = capsys.readouterr().err
    if expected is None:
        assert code == 0, err
        return
    assert code == 2
    assert expected in err
    assert "profile 'p'" in err


def test_unknown_profile_suggests_the_close_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    del project
    assert main(["plan", "--profile", "lab-sm68"]) == 2
    err = capsys.readouterr().err
    assert "no profile named 'lab-sm68'" in err
    assert "did you mean 'lab-sm86'?" in err


def test_unknown_top_level_key_and_bad_names(project: Path) -> None:
    write_profiles(project, "[profile.x]\narch = ['86']\n")
    with pytest.raises(ConfigurationError, match="did you mean 'profiles'"):
        load_profiles(project / "ollama-build.toml")
    write_profiles(project, "[profiles.'two words']\narch = ['86']\n")
    with pytest.raises(ConfigurationError, match="letters, digits"):
        load_profiles(project / "ollama-build.toml")


def test_missing_profiles_file_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--profile", "x"]) == 2
    assert "--profiles-file" in capsys.readouterr().err
    assert main(["plan", "--profiles-file", "nope.toml", "--profile", "x"]) == 2
    assert main(["plan", "--profiles-file", str(REPO / "ci" / "ollama-build.toml")]) == 2
    assert "without --profile" in capsys.readouterr().err


def test_pyproject_tool_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n\n[tool.build_tools.profiles.lab]\narch = ['75']\n"
    )
    monkeypatch.chdir(tmp_path)
    data = run_json(capsys, "plan", "--profile", "lab", "--show-options", "--json")
    assert data["profiles_file"].endswith("pyproject.toml")
    assert options_of(data)["arch"] == (["75"], "profile")


# --- the known keys come from the settings' option declarations ------------------------------
def test_every_build_option_is_a_profile_key() -> None:
    keys = set(profile_options())
    assert {"ref", "cuda", "arch", "exclude-arch", "min-arch", "ptx", "inventory"} <= keys
    assert {"source", "workdir", "compiler-cache", "jobs"} <= keys
    assert {"format", "compress", "dist-dir", "source-date-epoch"} <= keys
    assert not keys & {"help", "profile", "profiles-file", "show-options", "json"}
    # Values of this invocation and of the environment are not a profile's to set.
    assert not keys & {"keep-workdirs", "environment-cuda-home"}


def test_profile_values_are_converted_like_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "ollama-build.toml"
    path.write_text("[profiles.p]\njobs = 4\nforce = true\nmin-arch = 7.5\nformat = 'wheel'\n")
    profile = load_profiles(path).get("p").values

    def with_profile(cls: type) -> Any:
        settings: Any
        settings, _ = resolve(
            cls,
            command="test",
            given={},
            environ={},
            profile=profile,
            profile_name="p",
            profiles_file=path,
            profile_options=profile_options(),
        )
        return settings

    build: BuildSettings = with_profile(BuildSettings)
    assert (build.compile.jobs, build.source.force) == (4, True)
    assert (build.arch.min_arch, build.package.formats) == ("7.5", ("wheel",))
    # `plan` has no --jobs/--force/--format: those keys are checked, then left out.
    plan: PlanSettings = with_profile(PlanSettings)
    assert plan.arch.min_arch == "7.5"


def test_the_example_profiles_file_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    example = REPO / "ci" / "ollama-build.toml"
    names = list(load_profiles(example).profiles)
    assert names == ["cuda12-no-maxwell", "cuda13-ampere", "lab-sm86"]
    for name in names:
        data = run_json(
            capsys, "build", "--profiles-file", str(example), "--profile", name,
            "--show-options", "--json",
        )  # fmt: skip
        assert "profile" in {source for _, source in options_of(data).values()}
