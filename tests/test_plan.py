"""Planning scenarios for real boxes: pure function in, plan out."""

from __future__ import annotations

import pytest

from build_tools.errors import ConfigurationError, PlanError
from build_tools.generations import OllamaVersion
from build_tools.gpus.inventory import Inventory
from build_tools.planning.arch_plan import ArchRequest, PtxPolicy, TreeStock, make_arch_plan
from build_tools.planning.archs import CudaArch
from build_tools.toolkit.model import Toolkit

from boxes import H100, JETSON_ORIN, MIXED_AMPERE_ADA, RTX_5090, SEED_BOX, V100, inventory
from plan_values import CUDA_12_4_ARCHS, CUDA_13_0_ARCHS, generation, make_toolkit

CUDA12 = make_toolkit("12.4", archs=CUDA_12_4_ARCHS, provider="system")
CUDA13 = make_toolkit("13.0", archs=CUDA_13_0_ARCHS, provider="system")
EMPTY = Inventory(gpus=(), source="none")


def uses(plan_gpus: list[dict[str, object]]) -> list[tuple[str, bool]]:
    return [(str(g["compute_capability"]), bool(g["ollama_uses"])) for g in plan_gpus]


def test_seed_box_excluding_50_builds_86_only_and_keeps_the_m10_out() -> None:
    plan = make_arch_plan(ArchRequest(exclude_tokens=("50",)), inventory(SEED_BOX), None)
    data = plan.to_json()
    assert data["cuda_architectures"] == "86"
    assert uses(data["gpus"]) == [("8.6", True)] * 3 + [("5.0", False)] * 4
    assert [g["cuda_coverage"] for g in data["gpus"]] == ["exact"] * 3 + ["none"] * 4
    # Excluding the M10 is what the user asked for: notices naming each GPU, no warnings.
    assert data["warnings"] == []
    assert sum("Tesla M10" in n and "excluded" in n for n in data["notices"]) == 4


def test_seed_box_without_exclusion_covers_both_and_ptx_goes_to_the_highest() -> None:
    plan = make_arch_plan(ArchRequest(), inventory(SEED_BOX), CUDA12)
    assert plan.cuda_architectures == "50-real;86"
    assert all(c.ollama_uses for c in plan.coverage)


@pytest.mark.parametrize(
    ("box", "toolkit_", "expected"),
    [
        (H100, CUDA12, "90"),
        (H100, CUDA13, "90"),
        (MIXED_AMPERE_ADA, CUDA12, "86-real;89"),
        (JETSON_ORIN, CUDA12, "87"),
        (RTX_5090, CUDA13, "120"),
    ],
)
def test_inventory_plans(box: list[tuple[str, str, int]], toolkit_: Toolkit, expected: str) -> None:
    plan = make_arch_plan(ArchRequest(), inventory(box), toolkit_)
    assert plan.cuda_architectures == expected
    assert all(c.cuda == "exact" and c.ollama_uses for c in plan.coverage)
    assert plan.warnings == ()


def test_rtx_5090_on_cuda_12_4_fails_and_names_the_cuda_that_can() -> None:
    with pytest.raises(PlanError) as caught:
        make_arch_plan(ArchRequest(), inventory(RTX_5090), CUDA12)
    text = str(caught.value)
    assert "CUDA 12.4" in text
    assert "120" in text
    assert "CUDA 12.8 or newer" in text
    assert "--cuda 13.0" in text


def test_v100_with_cuda_13_fails_and_names_cuda_12() -> None:
    with pytest.raises(PlanError) as caught:
        make_arch_plan(ArchRequest(), inventory(V100), CUDA13)
    text = str(caught.value)
    assert "cannot compile arch 70" in text
    assert "12.x" in text
    assert "--cuda 12.4" in text


def test_without_a_toolkit_the_table_picks_a_cuda_that_compiles_everything() -> None:
    assert make_arch_plan(ArchRequest(), inventory(V100), None).cuda_version == "12.4"
    assert make_arch_plan(ArchRequest(), inventory(RTX_5090), None).cuda_version == "13.0"
    with pytest.raises(PlanError, match="no CUDA toolkit this tool can install compiles all"):
        make_arch_plan(ArchRequest(arch_tokens=("50", "120")), EMPTY, None)


def test_requested_cuda_version_is_checked_without_nvcc() -> None:
    with pytest.raises(PlanError, match=r"needs CUDA 6\.0 to 12\.x"):
        make_arch_plan(ArchRequest(arch_tokens=("50",), cuda_version="13.0"), EMPTY, None)


def test_90a_is_accepted_by_12_4_although_its_lists_omit_it() -> None:
    plan = make_arch_plan(ArchRequest(arch_tokens=("90a",)), inventory(H100), CUDA12)
    assert plan.cuda_architectures == "90a"
    # Ollama's exact rule sees 900 (the suffix disappears from __CUDA_ARCH_LIST__).
    assert plan.coverage[0].ollama_uses


def test_plan_80_on_an_8_6_card_runs_in_cuda_but_ollama_g5_skips_it() -> None:
    plan = make_arch_plan(ArchRequest(arch_tokens=("80",)), inventory(SEED_BOX[:1]), CUDA12)
    coverage = plan.coverage[0]
    assert coverage.cuda == "compatible"
    assert not coverage.ollama_uses
    assert any("CUDA could run it" in w and "860" in w for w in plan.warnings)


def test_same_plan_under_g3_uses_the_card_by_minimum() -> None:
    request = ArchRequest(arch_tokens=("80",), generation=generation("G3"))
    plan = make_arch_plan(request, inventory(SEED_BOX[:1]), CUDA12)
    assert plan.coverage[0].ollama_uses
    assert plan.warnings == ()


def test_g3_minimum_comes_from_the_lowest_planned_arch() -> None:
    request = ArchRequest(exclude_tokens=("50",), generation=generation("G3"))
    plan = make_arch_plan(request, inventory(SEED_BOX), CUDA12)
    assert plan.to_json()["ollama_min_compute_capability"] == "8.6"
    m10 = plan.coverage[-1]
    assert not m10.ollama_uses
    assert "too old" in m10.reason


def test_g1_fixed_minimum_means_the_excluded_m10_would_crash_the_runner() -> None:
    request = ArchRequest(exclude_tokens=("50",), generation=generation("G1"))
    plan = make_arch_plan(request, inventory(SEED_BOX), CUDA12)
    assert sum("would crash" in w for w in plan.warnings) == 4


def test_g4_validation_hole_is_flagged_for_affected_refs() -> None:
    for tag, flagged in [
        ("v0.12.9", False),
        ("v0.12.10-rc0", True),
        ("v0.13.0", True),
        ("v0.13.1-rc1", True),
        ("v0.13.1-rc2", False),
    ]:
        request = ArchRequest(
            exclude_tokens=("50",), generation=generation("G4"), ref=OllamaVersion.parse(tag)
        )
        plan = make_arch_plan(request, inventory(SEED_BOX), CUDA12)
        assert plan.rule.validation_hole is flagged, tag
        assert any("f8f107181" in w for w in plan.warnings) is flagged, tag
        assert plan.coverage[-1].ollama_uses is flagged, tag


def test_exclude_removes_every_form_of_an_arch() -> None:
    request = ArchRequest(arch_tokens=("50", "50-virtual", "sm_50", "86"), exclude_tokens=("50",))
    assert make_arch_plan(request, EMPTY, CUDA12).cuda_architectures == "86"


def test_exclude_with_suffix_removes_only_that_variant() -> None:
    request = ArchRequest(arch_tokens=("90", "90a"), exclude_tokens=("90a",))
    assert make_arch_plan(request, EMPTY, CUDA12).cuda_architectures == "90"


def test_min_arch_drops_lower_archs() -> None:
    request = ArchRequest(arch_tokens=("60,70,75,86",), min_arch="7.5")
    assert make_arch_plan(request, EMPTY, CUDA12).cuda_architectures == "75-real;86"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (PtxPolicy.NONE, "61-real;75-real;86-real"),
        (PtxPolicy.HIGHEST, "61-real;75-real;86"),
        (PtxPolicy.ALL, "61;75;86"),
    ],
)
def test_ptx_policy(policy: PtxPolicy, expected: str) -> None:
    request = ArchRequest(arch_tokens=("61,75,86",), ptx=policy)
    assert make_arch_plan(request, EMPTY, CUDA12).cuda_architectures == expected


def test_explicit_code_kinds_are_kept_whatever_the_policy() -> None:
    request = ArchRequest(arch_tokens=("75-virtual", "sm_86"), ptx=PtxPolicy.ALL)
    assert make_arch_plan(request, EMPTY, CUDA12).cuda_architectures == "75-virtual;86-real"


def test_preset_is_the_generations_stock_list_minus_exclusions() -> None:
    # G5's newest stock cuda_v12 list has 100 and 120, which CUDA 12.4 cannot compile.
    with pytest.raises(PlanError, match="cannot compile arch 100, 120"):
        make_arch_plan(ArchRequest(arch_tokens=("preset",)), EMPTY, CUDA12)
    request = ArchRequest(arch_tokens=("preset",), exclude_tokens=("50,52,100,120",))
    plan = make_arch_plan(request, inventory(SEED_BOX), CUDA12)
    assert plan.cuda_architectures == "60;61;70;75;80;86;89;90;90a"
    assert [c.ollama_uses for c in plan.coverage] == [True] * 3 + [False] * 4


def test_g5_cuda_13_preset_is_ptx_only_and_ollama_still_uses_the_3060() -> None:
    plan = make_arch_plan(ArchRequest(arch_tokens=("preset",)), inventory(SEED_BOX), CUDA13)
    assert all(not a.sass and a.ptx for a in plan.archs)
    assert [(c.cuda, c.ollama_uses) for c in plan.coverage[:3]] == [("ptx", True)] * 3
    # The M10 is wanted (not excluded) but CUDA 13 has no code for it: say so.
    assert sum("not covered" in w for w in plan.warnings) == 4


def test_preset_for_a_g3_ref_on_cuda_12_4() -> None:
    request = ArchRequest(
        arch_tokens=("preset",),
        exclude_tokens=("50",),
        generation=generation("G3"),
        ref=OllamaVersion.parse("v0.5.12"),
    )
    plan = make_arch_plan(request, inventory(SEED_BOX), CUDA12)
    assert plan.cuda_architectures == "60;61;62;70;72;75;80;86;87;89;90;90a"
    assert [c.ollama_uses for c in plan.coverage] == [True] * 3 + [False] * 4


TREE = TreeStock(lists={12: "50-virtual;61;86", 13: "86-virtual"}, presets_file="P.json")


def test_preset_reads_the_trees_own_list_when_a_tree_is_at_hand_and_says_so() -> None:
    # The tree wins over the built-in table (a fork, or a tag newer than the table).
    request = ArchRequest(arch_tokens=("preset",), exclude_tokens=("50",), tree_stock=TREE)
    plan = make_arch_plan(request, inventory(SEED_BOX), CUDA12)
    assert plan.cuda_architectures == "61;86"
    assert plan.to_json()["stock_source"] == "CUDA 12 stock list from the tree's P.json"
    assert "--arch preset: CUDA 12 stock list from the tree's P.json" in plan.notices
    assert make_arch_plan(request, EMPTY, CUDA13).cuda_architectures == "86-virtual"


def test_preset_missing_from_the_tree_is_an_error_naming_what_it_has() -> None:
    tree = TreeStock(lists={12: "61;86"}, presets_file="P.json")
    with pytest.raises(
        PlanError, match=r"no stock list for CUDA 13 in the tree's P\.json"
    ) as error:
        make_arch_plan(ArchRequest(arch_tokens=("preset",), tree_stock=tree), EMPTY, CUDA13)
    assert error.value.hint == "its presets exist for CUDA 12; pick one with --cuda"


def test_preset_without_a_tree_names_the_built_in_table_and_its_row() -> None:
    request = ArchRequest(
        arch_tokens=("preset",),
        generation=generation("G4"),
        ref=OllamaVersion.parse("v0.15.5-rc1"),
    )
    plan = make_arch_plan(request, EMPTY, CUDA13)
    # v0.15.5-rc1 alone shipped a CUDA 13 list without 87.
    assert "87" not in plan.cuda_architectures
    assert plan.stock_source == (
        "CUDA 13 stock list from the built-in table (G4, lists since v0.15.5-rc1; "
        "no source tree at hand)"
    )


def test_a_cuda_major_dropped_by_a_release_has_no_stock_list_there() -> None:
    g3 = generation("G3")
    assert g3.stock_list(11, OllamaVersion.parse("v0.6.8")) is not None
    assert g3.stock_list(11, OllamaVersion.parse("v0.9.3")) is None
    assert g3.stock_list(12, OllamaVersion.parse("v0.9.3")) is not None


def test_native_and_all_keywords_resolve_without_the_build_machine() -> None:
    native = make_arch_plan(ArchRequest(arch_tokens=("native",)), inventory(SEED_BOX), CUDA12)
    assert native.cuda_architectures == "50-real;86"
    everything = make_arch_plan(ArchRequest(arch_tokens=("all-major",)), EMPTY, CUDA13)
    assert [a.number for a in everything.archs] == [80, 90, 100, 110, 120]
    with pytest.raises(PlanError, match="inventory has no GPUs"):
        make_arch_plan(ArchRequest(arch_tokens=("native",)), EMPTY, CUDA12)


def test_empty_plan_is_an_error() -> None:
    with pytest.raises(PlanError, match="empty"):
        make_arch_plan(ArchRequest(exclude_tokens=("50",)), inventory(SEED_BOX[3:]), CUDA12)


def test_no_gpus_and_no_arch_is_an_error_that_says_what_to_pass() -> None:
    with pytest.raises(PlanError) as caught:
        make_arch_plan(ArchRequest(), EMPTY, CUDA12)
    assert "--arch" in str(caught.value)
    assert "--inventory" in str(caught.value)


def test_exclude_keyword_is_a_usage_error() -> None:
    with pytest.raises(ConfigurationError):
        make_arch_plan(ArchRequest(arch_tokens=("86",), exclude_tokens=("all",)), EMPTY, CUDA12)


def test_archs_are_sorted_and_deduplicated() -> None:
    request = ArchRequest(arch_tokens=("86", "61", "8.6", "compute_61"))
    plan = make_arch_plan(request, EMPTY, CUDA12)
    assert plan.archs == (CudaArch(61), CudaArch(86))


def test_g5_preset_keeping_50_virtual_warns_about_the_m10() -> None:
    request = ArchRequest(arch_tokens=("preset",), exclude_tokens=("100,120",))
    plan = make_arch_plan(request, inventory(SEED_BOX), CUDA12)
    assert "50-virtual" in plan.cuda_architectures
    # G5 matches the exact cc, and 500 is in the list: the M10 is used through PTX JIT.
    assert [c.ollama_uses for c in plan.coverage] == [True] * 7
    (warning,) = [w for w in plan.warnings if "stock list" in w]
    assert "Tesla M10" in warning
    assert "--exclude-arch 50" in warning
