"""The commands a recipe produces for a plan (pure: nothing is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.build_plan import BuildPlan
from build_tools.generations import Generation
from build_tools.recipes import recipe_for

from ollama_fixture import write_fixture
from plan_values import generation, make_build_plan, make_checkout, make_options, make_toolkit


def make_plan(root: Path, generation: Generation, *, launcher: Path | None = None) -> BuildPlan:
    return make_build_plan(
        make_checkout(root, "v0.24.0"),
        generation,
        toolkit=make_toolkit("12.4"),
        options=make_options(launcher=launcher),
    )


@pytest.fixture(params=["G3", "G4"])
def plan(request: pytest.FixtureRequest, tmp_path: Path) -> BuildPlan:
    name = str(request.param)
    root = write_fixture(tmp_path / name, generation=name)
    return make_plan(root, generation(name))


def step(plan: BuildPlan, name: str) -> tuple[str, ...]:
    (found,) = [s for s in recipe_for(plan.tree.generation).steps(plan) if s.name == name]
    return found.argv


def test_cuda_configure_names_the_toolkit_twice_and_the_plan(plan: BuildPlan) -> None:
    argv = step(plan, "configure-cuda_v12")
    assert argv[1:3] == ("--preset", "CUDA 12")
    assert "-DCMAKE_CUDA_ARCHITECTURES=86" in argv
    assert "-DCMAKE_CUDA_COMPILER=/cache/toolkits/12.4-debian/bin/nvcc" in argv
    assert "-DCUDAToolkit_ROOT=/cache/toolkits/12.4-debian" in argv
    assert f"-DCMAKE_INSTALL_PREFIX={plan.staging_dir}" in argv
    assert "-DCMAKE_DISABLE_FIND_PACKAGE_Vulkan=ON" in argv
    assert not any("native" in a for a in argv)


def test_runner_dir_is_passed_only_where_cmake_uses_it_and_presets_do_not_set_it(
    tmp_path: Path,
) -> None:
    g3 = make_plan(write_fixture(tmp_path / "g3", generation="G3"), generation("G3"))
    g4 = make_plan(write_fixture(tmp_path / "g4", generation="G4"), generation("G4"))
    assert not any("OLLAMA_RUNNER_DIR" in a for a in step(g3, "configure-cuda_v12"))
    # The G4 fixture's preset sets it already (as v0.12.10+ does).
    assert not any("OLLAMA_RUNNER_DIR" in a for a in step(g4, "configure-cuda_v12"))
    presets = g4.tree.presets["CUDA 12"]
    del presets["OLLAMA_RUNNER_DIR"]  # as in v0.12.4 - v0.12.9
    assert "-DOLLAMA_RUNNER_DIR=cuda_v12" in step(g4, "configure-cuda_v12")


def test_cpu_configure_keeps_cuda_out(plan: BuildPlan) -> None:
    argv = step(plan, "configure-cpu")
    assert argv[1:3] == ("--preset", "CPU")
    assert "-DCMAKE_CUDA_COMPILER=OFF" in argv


def test_ldflags_follow_the_generations_rule(tmp_path: Path) -> None:
    g3 = make_plan(write_fixture(tmp_path / "g3", generation="G3"), generation("G3"))
    g4 = make_plan(write_fixture(tmp_path / "g4", generation="G4"), generation("G4"))
    g3_flags = recipe_for(generation("G3")).ldflags(g3)
    assert "-X=github.com/ollama/ollama/discover.CudaComputeMajorMin=8" in g3_flags
    assert "-X=github.com/ollama/ollama/discover.CudaComputeMinorMin=6" in g3_flags
    g4_flags = recipe_for(generation("G4")).ldflags(g4)
    assert not any("CudaCompute" in f for f in g4_flags)
    for flags in (g3_flags, g4_flags):
        assert "-X=github.com/ollama/ollama/version.Version=0.24.0" in flags
        assert "-X=github.com/ollama/ollama/server.mode=release" in flags


def test_go_build_is_trimmed_pie_with_local_toolchain(plan: BuildPlan) -> None:
    (go,) = [s for s in recipe_for(plan.tree.generation).steps(plan) if s.phase == "go"]
    assert go.argv[:4] == ("/bin/go", "build", "-trimpath", "-buildmode=pie")
    assert go.env == {"CGO_ENABLED": "1", "GOTOOLCHAIN": "local"}
    assert go.argv[-3:] == ("-o", str(plan.staging_dir / "bin" / "ollama"), ".")


@pytest.mark.parametrize(
    ("launcher", "expected"), [(None, "env"), (Path("/u/ccache"), "/u/ccache")]
)
def test_compiler_launcher_is_always_explicit(
    tmp_path: Path, launcher: Path | None, expected: str
) -> None:
    plan = make_plan(write_fixture(tmp_path / "g4"), generation("G4"), launcher=launcher)
    argv = step(plan, "configure-cpu")
    for lang in ("C", "CXX", "CUDA"):
        assert f"-DCMAKE_{lang}_COMPILER_LAUNCHER={expected}" in argv
