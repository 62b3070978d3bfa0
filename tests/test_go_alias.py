"""`go build` runs in one link per source checkout, the same path for every work directory, so
Go's cache (keyed by the cgo packages' ${SRCDIR}) serves a fresh work directory."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from build_tools.build_plan import BuildPlan
from build_tools.errors import ConfigurationError
from build_tools.pipeline.go_alias import go_source_linked
from build_tools.recipes import recipe_for

from ollama_fixture import write_fixture
from plan_values import generation, make_build_plan, make_checkout, make_options, make_toolkit


def plan_in(workdir: Path, aliases: Path | None, tag: str = "v0.24.0") -> BuildPlan:
    # Two work directories hold the same checkout name (slug), as two builds of one source do.
    root = write_fixture(workdir / "sources" / "ollama-0123456789", generation="G4", tag=tag)
    plan = make_build_plan(
        make_checkout(root, tag),
        generation("G4"),
        toolkit=make_toolkit(),
        options=make_options(workdir),
    )
    return dataclasses.replace(
        plan, options=dataclasses.replace(plan.options, go_alias_dir=aliases)
    )


def go_step_of(plan: BuildPlan) -> tuple[Path | None, dict[str, str]]:
    (go,) = [s for s in recipe_for(plan.tree.generation).steps(plan) if s.phase == "go"]
    return go.cwd, {k: v for k, v in (go.env or {}).items() if v is not None}


def test_the_go_step_runs_in_the_same_link_from_any_work_directory(tmp_path: Path) -> None:
    aliases = tmp_path / "cache" / "go-sources"
    one, other = plan_in(tmp_path / "a" / "work", aliases), plan_in(tmp_path / "b" / "x", aliases)
    (cwd_one, env_one), (cwd_other, env_other) = go_step_of(one), go_step_of(other)
    assert cwd_one == cwd_other == aliases / "ollama-0123456789"
    assert env_one["PWD"] == env_other["PWD"] == str(cwd_one)  # Go's os.Getwd reads PWD

    for plan in (one, other, one):
        with go_source_linked(plan, dry_run=False):
            # While the step runs, the link names this build's tree and no other.
            assert plan.go_source.resolve() == plan.checkout.root.resolve()
            assert (plan.go_source / "go.mod").read_bytes() == (
                plan.checkout.root / "go.mod"
            ).read_bytes()
    assert sorted(p.name for p in aliases.iterdir()) == [".lock", "ollama-0123456789"]


def test_a_link_that_already_names_the_checkout_is_left_as_it_is(tmp_path: Path) -> None:
    # An unchanged re-run writes nothing in the shared directory: the same link (same inode)
    # before and after; another checkout then re-points it.
    aliases = tmp_path / "cache" / "go-sources"
    plan = plan_in(tmp_path / "a" / "work", aliases)
    with go_source_linked(plan, dry_run=False):
        pass
    first = plan.go_source.lstat()
    with go_source_linked(plan, dry_run=False):
        assert plan.go_source.resolve() == plan.checkout.root.resolve()
    again = plan.go_source.lstat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)

    other = plan_in(tmp_path / "b" / "work", aliases)
    with go_source_linked(other, dry_run=False):
        assert other.go_source.resolve() == other.checkout.root.resolve()
    assert other.go_source.lstat().st_ino != first.st_ino


def test_without_a_link_directory_go_runs_in_the_checkout(tmp_path: Path) -> None:
    plan = plan_in(tmp_path / "w", None)
    cwd, env = go_step_of(plan)
    assert cwd == plan.checkout.root
    assert "PWD" not in env
    with go_source_linked(plan, dry_run=False):
        pass


def test_a_dry_run_links_nothing(tmp_path: Path) -> None:
    plan = plan_in(tmp_path / "w", tmp_path / "cache" / "go-sources")
    with go_source_linked(plan, dry_run=True):
        pass
    assert not (tmp_path / "cache").exists()


def test_an_unusable_cache_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the cache directory should be")
    plan = plan_in(tmp_path / "w", tmp_path / "cache" / "go-sources")
    with (
        pytest.raises(ConfigurationError, match="cannot link the Go build's source") as raised,
        go_source_linked(plan, dry_run=False),
    ):
        pytest.fail("the Go step must not run")
    assert raised.value.exit_code == 2


def test_a_build_that_waits_for_the_link_is_told_what_else_it_can_do(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    aliases = tmp_path / "cache" / "go-sources"
    aliases.mkdir(parents=True)
    plan = plan_in(tmp_path / "w", aliases)
    # Another run holds the link directory for a moment.
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, time\n"
            f"f = open({str(aliases / '.lock')!r}, 'a')\n"
            "fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(1)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with go_source_linked(plan, dry_run=False):
            assert plan.go_source.resolve() == plan.checkout.root.resolve()
        holder.wait(timeout=30)
    err = capfd.readouterr().err
    assert f"another run holds {aliases}" in err
    assert "use another --cache-dir" in err  # another --workdir would wait just the same
