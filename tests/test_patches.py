"""Patch series: loading, selection, templates, atomic application, stamps, the CLI (git only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.errors import ConfigurationError, PatchError
from build_tools.generations import OllamaVersion
from build_tools.patching import (
    PREVIEW_CONTEXT,
    PatchState,
    RenderedPatch,
    apply_for_build,
    apply_patches,
    changes_are_ours,
    check_patches,
    closes_validation_hole,
    forget_applied_patches,
    load_all_series,
    load_series,
    render_series,
    select_series,
    template_context,
)
from build_tools.patching import apply as apply_module
from build_tools.planning.arch_plan import ArchPlan, ArchRequest, make_arch_plan
from build_tools.runner import Runner
from build_tools.source.checkout import Checkout
from build_tools.source.ollama_tree import read_tree

from boxes import SEED_BOX, inventory
from plan_values import generation
from test_patches_support import (
    fingerprint,
    git,
    hole_fixture,
    make_repo,
    reservation_fixture,
    write_series,
)

QUIET = Runner(echo=False)

SERIES_TOML = """\
description = "test series"
target = "ollama"
default = {default}
generations = ["G4"]
first_tag = "v0.1.0"
last_tag = "v0.2.0"
"""

# Two patches of one file, the second depending on the first, and a new file.
GREETING_1 = """\
diff --git a/greeting.txt b/greeting.txt
--- a/greeting.txt
+++ b/greeting.txt
@@ -1,3 +1,3 @@
 line one
-hello
+hello, world
 line three
"""
GREETING_2 = """\
diff --git a/greeting.txt b/greeting.txt
--- a/greeting.txt
+++ b/greeting.txt
@@ -1,3 +1,4 @@
 line one
 hello, world
+and hello again
 line three
diff --git a/notes/new.txt b/notes/new.txt
new file mode 100644
--- /dev/null
+++ b/notes/new.txt
@@ -0,0 +1 @@
+created by a patch
"""
# Patches other.txt (fine) and then greeting.txt in its second hunk, which does not match.
CONFLICTING = """\
diff --git a/other.txt b/other.txt
--- a/other.txt
+++ b/other.txt
@@ -1 +1 @@
-other
+other, patched
diff --git a/greeting.txt b/greeting.txt
--- a/greeting.txt
+++ b/greeting.txt
@@ -1,2 +1,2 @@
-line one
+line 1
 hello
@@ -3,1 +3,1 @@
-line THREE
+line 3
"""
TEMPLATE = """\
diff --git a/config.txt b/config.txt
--- a/config.txt
+++ b/config.txt
@@ -1 +1 @@
-min = 0.0
+min = {{ min_cc_major }}.{{ min_cc_minor }}
"""

FILES = {
    "greeting.txt": "line one\nhello\nline three\n",
    "other.txt": "other\n",
    "config.txt": "min = 0.0\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "tree", FILES)


@pytest.fixture
def series_root(tmp_path: Path) -> Path:
    root = tmp_path / "series"
    write_series(
        root,
        "a-greeting",
        SERIES_TOML.format(default="true"),
        {"0001-hello-world.patch": GREETING_1, "0002-again.patch": GREETING_2},
    )
    write_series(
        root, "b-conflict", SERIES_TOML.format(default="false"), {"0001-bad.patch": CONFLICTING}
    )
    write_series(
        root, "c-template", SERIES_TOML.format(default="false"), {"0001-min.patch.j2": TEMPLATE}
    )
    return root


def seed_plan() -> ArchPlan:
    request = ArchRequest(exclude_tokens=("50",), generation=generation("G4"))
    return make_arch_plan(request, inventory(SEED_BOX), None)


def rendered(
    series_root: Path, name: str, context: dict[str, object] | None = None
) -> list[RenderedPatch]:
    return render_series(load_series(series_root / name), context or PREVIEW_CONTEXT)


# --- loading and selection -------------------------------------------------------------------


def test_shipped_series_are_declared_as_documented() -> None:
    shipped = {s.name: s for s in load_all_series()}
    assert set(shipped) >= {"g4-cuda-init-validation", "gpu-reservation"}
    fix = shipped["g4-cuda-init-validation"]
    assert fix.default
    assert fix.closes_validation_hole
    assert fix.target == "ollama"
    assert (str(fix.first_tag), str(fix.last_tag)) == ("v0.12.10-rc0", "v0.13.1-rc1")
    reservation = shipped["gpu-reservation"]
    assert not reservation.default
    assert reservation.generations == ("G3", "G4", "G5")
    assert reservation.range_text == "v0.5.8-rc0 .. v0.12.3, v0.13.1-rc0 .. v0.33.0-rc2"

    def files(tag: str) -> list[str]:
        return [f.name for f in reservation.files_for(OllamaVersion.parse(tag))]

    assert files("v0.6.8") == ["0001-reservation-rules.patch", "0002-reserve-gpus-g3.patch.j2"]
    assert files("v0.24.0") == files("v0.32.2") == files("v0.33.0-rc2")
    assert files("v0.32.2") == ["0001-reservation-rules.patch", "0003-reserve-gpus-g4-g5.patch.j2"]
    assert files("v0.34.0") == files("v0.33.0-rc2")  # --patch past the range tries the newest
    for tag in ("v0.5.7", "v0.12.5", "v0.13.0", "v0.33.0"):
        assert not reservation.covers(OllamaVersion.parse(tag)), tag
    with pytest.raises(PatchError, match=r"none is for v0\.12\.5") as error:
        files("v0.12.5")
    assert error.value.hint is not None
    assert "0002-reserve-gpus-g3.patch.j2 for v0.5.8-rc0 .. v0.12.3" in error.value.hint
    with pytest.raises(PatchError, match="the release is unknown"):
        reservation.files_for(None)


def test_bad_metadata_names_the_file(tmp_path: Path) -> None:
    directory = write_series(
        tmp_path, "broken", 'description = "x"\ntarget = "gcc"\ngenerations = ["G4"]\n', {}
    )
    with pytest.raises(ConfigurationError, match=r"broken/series.toml: target must be one of"):
        load_series(directory)
    (directory / "series.toml").write_text('description = "x"\ngenerations = ["G4"]\n')
    with pytest.raises(ConfigurationError, match=r"has no NNNN-name\.patch"):
        load_series(directory)


RANGED_TOML = (
    SERIES_TOML
    + """
[patch."0002-again.patch"]
first_tag = "v0.1.5"
last_tag = "v0.2.0"
"""
)


def test_ranged_patches_are_chosen_by_release(tmp_path: Path, tree: Path) -> None:
    directory = write_series(
        tmp_path,
        "ranged",
        RANGED_TOML.format(default="true"),
        {"0001-hello-world.patch": GREETING_1, "0002-again.patch": GREETING_2},
    )
    series = load_series(directory)
    assert series.to_json()["patch_ranges"] == {"0002-again.patch": "v0.1.5 .. v0.2.0"}
    assert not series.covers(OllamaVersion.parse("v0.1.4"))  # in the series, in no range
    assert series.covers(OllamaVersion.parse("v0.1.5"))
    patches = render_series(series, PREVIEW_CONTEXT, OllamaVersion.parse("v0.2.0"))
    assert [p.name for p in patches] == ["0001-hello-world.patch", "0002-again.patch"]
    apply_patches(tree, patches, QUIET)
    assert (tree / "notes" / "new.txt").read_text() == "created by a patch\n"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('[patch."0009-nope.patch"]\nfirst_tag = "v0.1.0"\nlast_tag = "v0.2.0"\n', "names no"),
        ('[patch."0001-a.patch"]\nfirst_tag = "v0.1.0"\n', "needs first_tag <= last_tag"),
        ('[patch."0001-a.patch"]\nfirst_tag = "v0.1.0"\nlast_tag = "v0.3.0"\n', "outside"),
        ('[patch."0001-a.patch"]\nfirst_tag = "v0.1.0"\nfirst = 1\n', "may only set"),
        ('patch = "0001-a.patch"\n', "one table per ranged patch"),
    ],
)
def test_bad_patch_ranges_name_the_file(tmp_path: Path, table: str, problem: str) -> None:
    metadata = SERIES_TOML.format(default="false")
    if not table.startswith("["):
        metadata = table + metadata
    else:
        metadata += table
    directory = write_series(tmp_path, "bad", metadata, {"0001-a.patch": GREETING_1})
    with pytest.raises(ConfigurationError, match=rf"bad/series.toml: .*{problem}"):
        load_series(directory)


def test_default_series_follow_generation_and_version_range() -> None:
    shipped = load_all_series()

    def names(version: str | None, gen: str = "G4", **kw: tuple[str, ...]) -> list[str]:
        parsed = OllamaVersion.parse(version) if version else None
        return [s.series.name for s in select_series(shipped, generation(gen), parsed, **kw)]

    assert names("v0.13.0") == ["g4-cuda-init-validation"]
    assert names("v0.12.10-rc0") == names("v0.13.1-rc1") == ["g4-cuda-init-validation"]
    assert names("v0.12.9") == names("v0.13.1-rc2") == names("v0.24.0") == []
    assert names(None) == []  # unknown release: no guessing
    assert names("v0.13.0", "G5") == []
    assert names("v0.13.0", refused=("g4-cuda-init-validation",)) == []
    assert names("v0.24.0", requested=("gpu-reservation",)) == ["gpu-reservation"]
    assert names("v0.13.1-rc0", requested=("gpu-reservation",)) == [
        "g4-cuda-init-validation",
        "gpu-reservation",
    ]


def test_selection_errors_say_what_to_do() -> None:
    shipped = load_all_series()
    v24 = OllamaVersion.parse("v0.24.0")
    with pytest.raises(ConfigurationError, match="no such patch series") as error:
        select_series(shipped, generation("G4"), v24, requested=("nope",))
    assert error.value.hint is not None
    assert "gpu-reservation" in error.value.hint
    with pytest.raises(ConfigurationError, match="both --patch and --no-patch"):
        select_series(shipped, generation("G4"), v24, ("gpu-reservation",), ("gpu-reservation",))
    with pytest.raises(ConfigurationError, match="written for G4, this is G5"):
        select_series(shipped, generation("G5"), v24, requested=("g4-cuda-init-validation",))


# --- templates -------------------------------------------------------------------------------


def test_templates_render_with_the_plan(series_root: Path) -> None:
    context = template_context(seed_plan())
    assert (context["min_cc_major"], context["min_cc_minor"]) == (8, 6)
    [patch] = rendered(series_root, "c-template", context)
    assert patch.name == "0001-min.patch"
    assert "+min = 8.6\n" in patch.text
    assert "{{" not in patch.text


def test_a_missing_template_variable_is_an_error_naming_it(series_root: Path) -> None:
    with pytest.raises(PatchError, match="'min_cc_minor' is undefined") as error:
        rendered(series_root, "c-template", {"min_cc_major": 8})
    assert error.value.patch == "0001-min.patch.j2"
    assert error.value.series == "c-template"


# --- applying --------------------------------------------------------------------------------


def test_patches_apply_in_order_and_create_files(tree: Path, series_root: Path) -> None:
    checks = apply_patches(tree, rendered(series_root, "a-greeting"), QUIET)
    assert [c.state for c in checks] == [PatchState.APPLIES, PatchState.APPLIES]
    assert (tree / "greeting.txt").read_text() == (
        "line one\nhello, world\nand hello again\nline three\n"
    )
    assert (tree / "notes" / "new.txt").read_text() == "created by a patch\n"


def test_already_applied_patches_are_recognised_and_skipped(tree: Path, series_root: Path) -> None:
    apply_patches(tree, rendered(series_root, "a-greeting"), QUIET)
    before = fingerprint(tree)
    checks = apply_patches(tree, rendered(series_root, "a-greeting"), QUIET)
    assert [c.state for c in checks] == [PatchState.ALREADY_APPLIED] * 2
    assert fingerprint(tree) == before


def test_a_conflict_leaves_the_tree_byte_identical_and_names_patch_file_hunk(
    tree: Path, series_root: Path
) -> None:
    (tree / "untracked.txt").write_text("user file\n")
    before = fingerprint(tree)
    patches = rendered(series_root, "a-greeting") + rendered(series_root, "b-conflict")
    with pytest.raises(PatchError) as error:
        apply_patches(tree, patches, QUIET)
    assert fingerprint(tree) == before
    assert error.value.exit_code == 11
    assert (error.value.series, error.value.patch) == ("b-conflict", "0001-bad.patch")
    assert error.value.file == "greeting.txt"
    assert error.value.hunk is not None
    assert error.value.hunk.startswith("hunk #1 (@@ -1,2 +1,2 @@")
    assert "b-conflict/0001-bad.patch" in str(error.value)
    assert "greeting.txt" in str(error.value)


def test_second_hunk_conflict_is_named(tree: Path, series_root: Path) -> None:
    # On the untouched tree hunk #1 of greeting.txt matches, so git stops at hunk #2.
    [check] = check_patches(tree, rendered(series_root, "b-conflict"), QUIET)
    assert check.state is PatchState.CONFLICT
    assert check.conflict is not None
    assert check.conflict.file == "greeting.txt"
    assert check.conflict.hunk is not None
    assert check.conflict.hunk.startswith("hunk #2 (@@ -3,1")


def test_a_new_file_that_exists_already_is_a_named_conflict(tree: Path, series_root: Path) -> None:
    (tree / "notes").mkdir()
    (tree / "notes" / "new.txt").write_text("mine\n")
    before = fingerprint(tree)
    with pytest.raises(PatchError, match=r"notes/new.txt: already exists") as error:
        apply_patches(tree, rendered(series_root, "a-greeting"), QUIET)
    assert error.value.patch == "0002-again.patch"
    assert error.value.file == "notes/new.txt"
    assert fingerprint(tree) == before


def test_a_failure_while_applying_restores_every_byte(
    tree: Path, series_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git fails on the tree after the checks passed (disk full, a racing editor ...)."""
    before = fingerprint(tree)
    real = apply_module._git_apply
    calls: list[str] = []

    def flaky(
        runner: Runner, where: Path, patch_file: Path, *flags: str, probe: bool
    ) -> tuple[int, str]:
        if not probe:
            calls.append(patch_file.name)
            if len(calls) == 2:
                return (
                    1,
                    "error: patch failed: greeting.txt:1\n"
                    "error: greeting.txt: patch does not apply\n",
                )
        return real(runner, where, patch_file, *flags, probe=probe)

    monkeypatch.setattr(apply_module, "_git_apply", flaky)
    with pytest.raises(PatchError, match="rolled back") as error:
        apply_patches(tree, rendered(series_root, "a-greeting"), QUIET)
    assert error.value.patch == "0002-again.patch"
    assert fingerprint(tree) == before
    assert not (tree / "notes").exists()


def test_dry_run_checks_but_writes_nothing(tree: Path, series_root: Path) -> None:
    before = fingerprint(tree)
    checks = apply_patches(
        tree, rendered(series_root, "a-greeting"), Runner(dry_run=True, echo=False)
    )
    assert [c.state for c in checks] == [PatchState.APPLIES, PatchState.APPLIES]
    assert fingerprint(tree) == before


# --- the shipped series on fixture trees -----------------------------------------------------


def checkout_of(root: Path) -> Checkout:
    describe = git(root, "describe", "--tags", "--exact-match", "HEAD").strip()
    return Checkout(
        root=root,
        url=str(root),
        ref=describe,
        commit=git(root, "rev-parse", "HEAD").strip(),
        commit_time=0,
        describe=describe,
        in_place=False,
    )


def test_g4_fix_is_applied_by_default_and_closes_the_hole(tmp_path: Path) -> None:
    root = hole_fixture(tmp_path / "ollama")
    tree = read_tree(root)
    assert tree.validation_hole
    applied = apply_for_build(
        checkout_of(root), tree, seed_plan(), requested=(), refused=(), runner=QUIET
    )
    assert [(p.series, p.name, p.already_applied) for p in applied] == [
        ("g4-cuda-init-validation", "0001-validate-cuda-devices.patch", False)
    ]
    assert len(applied[0].sha256) == 64
    assert closes_validation_hole(applied)
    assert not read_tree(root).validation_hole
    assert changes_are_ours(root, QUIET)
    again = apply_for_build(
        checkout_of(root), read_tree(root), seed_plan(), requested=(), refused=(), runner=QUIET
    )
    assert [p.already_applied for p in again] == [True]
    assert closes_validation_hole(again)


def test_no_patch_keeps_the_hole(tmp_path: Path) -> None:
    root = hole_fixture(tmp_path / "ollama")
    applied = apply_for_build(
        checkout_of(root),
        read_tree(root),
        seed_plan(),
        requested=(),
        refused=("g4-cuda-init-validation",),
        runner=QUIET,
    )
    assert applied == []
    assert read_tree(root).validation_hole


def test_gpu_reservation_renders_the_plan_and_is_stamped_as_ours(tmp_path: Path) -> None:
    root = reservation_fixture(tmp_path / "ollama")
    applied = apply_for_build(
        checkout_of(root),
        read_tree(root),
        seed_plan(),
        requested=("gpu-reservation",),
        refused=(),
        runner=QUIET,
    )
    assert [p.series for p in applied] == ["gpu-reservation"] * 2
    go = (root / "discover" / "reservation.go").read_text()
    assert "defaultMinComputeMajor = 8\n" in go
    assert "defaultMinComputeMinor = 6\n" in go
    assert "reserved := reservedReasons(devices)" in (root / "discover" / "runner.go").read_text()
    assert (root / "discover" / "reservation" / "reservation_test.go").is_file()
    stamp = json.loads((root / ".git" / "build-tools-patches.json").read_text())
    assert stamp["created"].keys() == {
        "discover/reservation.go",
        "discover/reservation/reservation.go",
        "discover/reservation/reservation_test.go",
    }
    assert [p["sha256"] for p in stamp["patches"]] == [p.sha256 for p in applied]
    assert changes_are_ours(root, QUIET)

    # Any change of the user's, tracked or in a file we created, is no longer ours.
    (root / "discover" / "reservation.go").write_text("package discover\n")
    assert not changes_are_ours(root, QUIET)
    (root / "discover" / "reservation.go").unlink()
    assert not changes_are_ours(root, QUIET)


def test_gpu_reservation_hooks_g3_discovery(tmp_path: Path) -> None:
    root = reservation_fixture(tmp_path / "ollama", generation="G3", tag="v0.6.8")
    tree = read_tree(root)
    assert tree.generation == generation("G3")
    applied = apply_for_build(
        checkout_of(root),
        tree,
        seed_plan(),
        requested=("gpu-reservation",),
        refused=(),
        runner=QUIET,
    )
    assert [p.name for p in applied] == [
        "0001-reservation-rules.patch",
        "0002-reserve-gpus-g3.patch",
    ]
    gpu = (root / "discover" / "gpu.go").read_text()
    assert "cudaReservedReason(gpuInfo.ID, int(memInfo.major), int(memInfo.minor))" in gpu
    assert "defaultMinComputeMajor = 8\n" in (root / "discover" / "reservation.go").read_text()


def test_forget_removes_our_files_after_a_reset(tmp_path: Path) -> None:
    root = reservation_fixture(tmp_path / "ollama")
    apply_for_build(
        checkout_of(root),
        read_tree(root),
        seed_plan(),
        requested=("gpu-reservation",),
        refused=(),
        runner=QUIET,
    )
    (root / "user.txt").write_text("untracked, not ours\n")
    git(root, "reset", "-q", "--hard")
    forget_applied_patches(root, QUIET)
    assert not (root / "discover" / "reservation.go").exists()
    assert (root / "user.txt").exists()
    assert not (root / ".git" / "build-tools-patches.json").exists()


def test_user_changes_are_never_stamped_as_ours(tmp_path: Path) -> None:
    root = hole_fixture(tmp_path / "ollama")
    (root / "main.go").write_text((root / "main.go").read_text() + "// user edit\n")
    apply_for_build(
        checkout_of(root), read_tree(root), seed_plan(), requested=(), refused=(), runner=QUIET
    )
    assert not changes_are_ours(root, QUIET)
    assert not (root / ".git" / "build-tools-patches.json").exists()


# --- the command -----------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    return main(["patches", *argv])


def test_list_for_a_ref_says_what_applies(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("list", "--ref", "v0.13.0", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    status = {s["name"]: s["status"] for s in data["series"]}
    assert data["generation"] == "G4"
    assert status["g4-cuda-init-validation"] == "default (automatic)"
    assert status["gpu-reservation"] == "not for this ref"


def test_check_reports_each_patch_and_leaves_the_tree_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = hole_fixture(tmp_path / "ollama", tag="v0.13.1-rc0")
    before = fingerprint(root)
    assert run_cli("check", "--source-dir", str(root), "--json") == 0
    [result] = json.loads(capsys.readouterr().out)["patches"]
    assert (result["series"], result["state"]) == ("g4-cuda-init-validation", "applies")
    # gpu-reservation does not fit this tree's runner.go: a named conflict, exit code 11.
    assert run_cli("check", "--source-dir", str(root), "--patch", "gpu-reservation", "--json") == 11
    results = json.loads(capsys.readouterr().out)["patches"]
    conflict = next(r for r in results if r["series"] == "gpu-reservation" and r["detail"])
    assert conflict["state"] == "conflict"
    assert conflict["file"] == "discover/runner.go"
    assert conflict["hunk"].startswith("hunk #1 (@@")
    assert fingerprint(root) == before


def test_check_of_a_release_between_ranges_names_the_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = hole_fixture(tmp_path / "ollama", tag="v0.13.0")
    before = fingerprint(root)
    assert run_cli("check", "--source-dir", str(root), "--patch", "gpu-reservation") == 11
    err = capsys.readouterr().err
    assert "series gpu-reservation has one patch per range of releases and none is for v0.13.0" in (
        " ".join(err.split())
    )
    assert "0003-reserve-gpus-g4-g5.patch.j2 for v0.13.1-rc0 .. v0.33.0-rc2" in " ".join(
        err.split()
    )
    assert fingerprint(root) == before
