"""``build`` (also the default command): source → recipe → CMake/Ninja → Go → staging tree."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from build_tools import ci
from build_tools.audit import ArchComparison, audit_go_binary, audit_install
from build_tools.build_plan import BuildOptions, BuildPlan
from build_tools.cli.commands.common import (
    add_plan_arguments,
    arch_request_from_args,
    checkout_from_args,
    inventory_from_args,
    print_json,
)
from build_tools.cli.commands.plan import show_plan
from build_tools.console import reporter
from build_tools.errors import ToolkitError, ValidationHoleError
from build_tools.generations import Generation, OllamaVersion
from build_tools.package import add_package_arguments, package_build, package_options_from_args
from build_tools.patching import add_patch_arguments, apply_for_build, closes_validation_hole
from build_tools.paths import default_cache_dir
from build_tools.pipeline.steps import run_steps
from build_tools.planning.arch_plan import ArchPlan, ArchRequest, make_arch_plan
from build_tools.planning.cuda_support import installable_versions_for
from build_tools.programs import (
    find_cmake,
    find_compiler_cache,
    find_go,
    find_ninja,
    suggested_jobs,
)
from build_tools.recipes import Recipe, TreeFacts, read_tree, recipe_for
from build_tools.recipes.base import PHASES, steps_until
from build_tools.runner import Runner
from build_tools.settings import add_profile_arguments
from build_tools.source.checkout import DEFAULT_REF, DEFAULT_SOURCE
from build_tools.source.llama_cpp import (
    DEFAULT_LLAMA_CPP_SOURCE,
    OVERRIDE_FLAG,
    LlamaCppSource,
    LlamaCppSpec,
    prepare_llama_cpp,
)
from build_tools.toolkit import (
    ToolkitRequest,
    add_toolkit_arguments,
    check_host_compiler,
    resolve_toolkit,
    toolkit_request_from_args,
)
from build_tools.verify import verify_install
from build_tools.verify.show import show_report

__all__ = ["register"]

EPILOG = f"""\
examples:
  python -m build_tools --exclude-arch 50                    # local GPUs minus the Tesla M10
  python -m build_tools build --inventory box.json --exclude-arch 50 --cuda 12.4
  python -m build_tools build --source ~/src/ollama --ref v0.6.8 --jobs 2
  python -m build_tools --dry-run build --source-dir ~/src/ollama --arch 86

The default source is {DEFAULT_SOURCE} at {DEFAULT_REF}. Work happens under --workdir
(sources/, build/, staging/, logs/); the result is staging/<source>/ laid out like the official
release: bin/ollama and lib/ollama/ with the CPU backends and lib/ollama/cuda_vNN/.
"""


def _choose_cuda(request: ToolkitRequest, arch_plan: ArchPlan, tree: TreeFacts) -> ToolkitRequest:
    """Without --cuda/--cuda-home and no system nvcc: the newest installable CUDA whose major
    this tree has a preset for and which compiles every planned arch."""
    for version in installable_versions_for(arch_plan.archs):
        if tree.preset_for(int(version.split(".")[0])):
            return replace(request, cuda_version=version)
    raise ToolkitError(
        f"no installable CUDA toolkit compiles {arch_plan.cuda_architectures} for this tree",
        hint="its presets are " + ", ".join(sorted(tree.presets)) + "; pass --cuda-home",
    )


def _check_hole(plan: ArchPlan, tree: TreeFacts, accept: bool) -> None:
    if not tree.validation_hole or not any(not c.wanted for c in plan.coverage):
        return
    message = (
        "this Ollama version never validates CUDA GPUs against the compiled architectures "
        "(ml/device.go NeedsInitValidation checks ROCm only; fixed upstream in f8f107181), "
        "so the excluded GPUs would still get layers and crash the runner"
    )
    if not accept:
        raise ValidationHoleError(
            message,
            hint="build v0.13.1 or newer, or pass --accept-validation-hole and run Ollama with "
            "CUDA_VISIBLE_DEVICES set to the wanted GPUs' UUIDs",
        )
    reporter.warning(message + "; set CUDA_VISIBLE_DEVICES when you run it")


# --- G5: llama.cpp source (issue 7) ---------------------------------------------------------
def _prepare_llama_cpp(
    args: argparse.Namespace, tree: TreeFacts, workdir: Path, runner: Runner
) -> LlamaCppSource | None:
    """G5 only: the pinned llama.cpp, proven and compat-patched, before anything builds."""
    if tree.generation is not Generation.G5 or tree.llama_cpp_version is None:
        return None
    spec = LlamaCppSpec(
        source=args.llama_cpp_source,
        tag=tree.llama_cpp_version,
        workdir=workdir,
        accept_unverified=args.accept_unverified_llama_cpp,
        force=args.force,
    )
    return prepare_llama_cpp(spec, tree.compat_patch, find_cmake(), runner)


# --- end G5 ----------------------------------------------------------------------------------


def make_build_plan(args: argparse.Namespace, runner: Runner) -> BuildPlan:
    """The impure part of a build: fetch, read the tree, find tools; then freeze the plan."""
    workdir = (args.workdir or default_cache_dir() / "work").resolve()
    inventory = inventory_from_args(args, runner)
    toolkit_request = toolkit_request_from_args(args, os.environ)
    checkout = checkout_from_args(args, workdir, runner)
    tree = read_tree(checkout.root)
    recipe_for(tree.generation)  # fail early for generations without a recipe
    release = OllamaVersion.from_describe(checkout.describe)

    def request_for(cuda_version: str | None) -> ArchRequest:
        return arch_request_from_args(args, cuda_version, generation=tree.generation, ref=release)

    if toolkit_request.cuda_version is not None:
        # Fail before any toolkit download when the table already says no.
        make_arch_plan(request_for(toolkit_request.cuda_version), inventory, None)
    toolkit = resolve_toolkit(toolkit_request, runner, install=True)
    if toolkit is None:
        draft = make_arch_plan(request_for(None), inventory, None)
        toolkit_request = _choose_cuda(toolkit_request, draft, tree)
        toolkit = resolve_toolkit(toolkit_request, runner, install=True)
    if toolkit is None:
        raise ToolkitError("no CUDA toolkit could be found or installed", hint="pass --cuda")
    if tree.preset_for(toolkit.major) is None:
        raise ToolkitError(
            f"this Ollama tree has no 'CUDA {toolkit.major}' preset",
            hint="presets: " + ", ".join(sorted(tree.presets)) + "; choose --cuda accordingly",
        )
    arch_plan = make_arch_plan(request_for(toolkit.version), inventory, toolkit)
    patches = apply_for_build(
        checkout,
        tree,
        arch_plan,
        requested=tuple(args.patch),
        refused=tuple(args.no_patch),
        runner=runner,
    )
    if closes_validation_hole(patches):
        # A dry run wrote nothing, so its tree still reads as having the hole.
        tree = replace(tree, validation_hole=False) if runner.dry_run else read_tree(checkout.root)
    _check_hole(arch_plan, tree, args.accept_validation_hole)
    # nvcc rejects host compilers newer than it knows (CUDA 12.4: gcc <= 13); say so before a
    # configure step fails with a wall of CMake output.
    host_compiler = check_host_compiler(toolkit.root, toolkit.version, runner)
    llama_cpp = _prepare_llama_cpp(args, tree, workdir, runner)

    go = find_go(runner, tree.go_required)
    jobs = args.jobs or suggested_jobs(len(arch_plan.archs))
    options = BuildOptions(
        workdir=workdir,
        jobs=jobs,
        cmake=find_cmake(),
        ninja=find_ninja(),
        go=go.path,
        go_version=go.version_text,
        compiler_launcher=find_compiler_cache(args.compiler_cache),
        with_vulkan=args.with_vulkan,
        accept_validation_hole=args.accept_validation_hole,
        host_compiler=host_compiler.path,
    )
    return BuildPlan(
        arch_plan=arch_plan,
        toolkit=toolkit,
        checkout=checkout,
        tree=tree,
        options=options,
        llama_cpp=llama_cpp,
        patches=tuple(patches),
    )


def _audit(plan: BuildPlan, recipe: Recipe) -> tuple[list[ArchComparison], dict[str, str]]:
    """The build's last gate: device code and Go variables must be what the plan says."""
    with reporter.step("Audit the device code and Go variables against the plan"):
        audits = audit_install(plan.staging_dir, plan.arch_plan.archs)
        go_variables = audit_go_binary(
            plan.staging_dir / "bin" / "ollama", recipe.go_variables(plan)
        )
    for comparison in audits:
        reporter.info(comparison.describe())
    shown = ", ".join(f"{name.rsplit('/', 1)[-1]}={v}" for name, v in go_variables.items())
    reporter.info(f"bin/ollama: {shown}")
    return audits, go_variables


def run(args: argparse.Namespace, runner: Runner) -> int:
    # Read packaging options first: a bad SOURCE_DATE_EPOCH fails now, not after the build.
    package_options = package_options_from_args(args, os.environ)
    if args.with_vulkan:
        reporter.warning(
            "--with-vulkan: a Vulkan backend lets Ollama use GPUs that the CUDA plan excluded "
            "(the Tesla M10 would come back through Vulkan)"
        )
    plan = make_build_plan(args, runner)
    if not args.json:
        show_plan(plan.arch_plan)
    recipe = recipe_for(plan.tree.generation)
    run_steps(plan, steps_until(recipe.steps(plan), args.stop_after), runner)
    complete = args.stop_after is None
    audits: list[ArchComparison] = []
    go_variables: dict[str, str] = {}
    if complete and not runner.dry_run:
        audits, go_variables = _audit(plan, recipe)
    package = None
    if complete:  # package_build prints instead of writing under --dry-run
        package = package_build(
            plan,
            audits,
            formats=package_options.formats,
            compress=package_options.compress,
            dist_dir=package_options.dist_dir,
            source_date_epoch=package_options.source_date_epoch,
            runner=runner,
        )
    if complete and not runner.dry_run:  # GitHub Actions: $GITHUB_STEP_SUMMARY
        ci.write_build_summary(plan, package, getattr(args, "resolved_options", None))
    verify_report = None
    if args.verify and complete and not runner.dry_run:
        verify_report = verify_install(plan.staging_dir, plan.arch_plan, runner)
        if not args.json:
            show_report(verify_report)
    if args.json:
        print_json(
            {
                **plan.to_json(),
                "audit": [c.to_json() for c in audits],
                "go_variables": go_variables,
                "package": None if package is None else package.to_json(),
                "verify": None if verify_report is None else verify_report.to_json(),
            }
        )
    elif not runner.dry_run:
        reporter.info(f"Ollama {plan.checkout.version} installed in {plan.staging_dir}")
        for artifact in package.artifacts if package is not None else ():
            reporter.info(f"{artifact.kind}: {artifact.path}")
        reporter.info(f"logs: {plan.log_dir}")
    if verify_report is not None:
        verify_report.raise_if_failed()  # exit 13, naming the GPU
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "build",
        help="plan and build Ollama (the default command)",
        description="Fetch Ollama, detect its build generation from its files, plan the CUDA "
        "architectures, and build the CPU and CUDA backends and the Go binary into a staging "
        "tree laid out like the official release.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("source")
    source.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        metavar="URL|PATH",
        help=f"git URL or local repository (default: {DEFAULT_SOURCE})",
    )
    source.add_argument(
        "--ref", default=DEFAULT_REF, help=f"tag, branch or commit (default: {DEFAULT_REF})"
    )
    source.add_argument(
        "--source-dir",
        type=Path,
        metavar="DIR",
        help="build this existing Ollama checkout in place (no fetch)",
    )
    source.add_argument(
        "--force", action="store_true", help="discard local changes in the cached checkout"
    )
    source.add_argument(
        "--llama-cpp-source",
        default=DEFAULT_LLAMA_CPP_SOURCE,
        metavar="URL|PATH",
        help="G5 (v0.30+): where the llama.cpp tag named by LLAMA_CPP_VERSION comes from: git "
        "URL, local clone, or a plain llama.cpp directory (needs "
        f"{OVERRIDE_FLAG}); default: {DEFAULT_LLAMA_CPP_SOURCE}",
    )
    source.add_argument(
        OVERRIDE_FLAG,
        action="store_true",
        help="G5: build with a llama.cpp tree whose version cannot be proven (not git) or "
        "differs from LLAMA_CPP_VERSION; recorded as unverified in the build summary",
    )
    add_plan_arguments(parser, for_build=True)
    add_toolkit_arguments(parser)
    add_patch_arguments(parser)
    build = parser.add_argument_group("build")
    build.add_argument(
        "--workdir",
        type=Path,
        help="where sources, build trees, staging and logs go (default: <cache>/work)",
    )
    build.add_argument(
        "--jobs",
        "-j",
        type=int,
        help="parallel compile jobs (default: from cores and free memory; a long arch list "
        "needs about 1 GiB per nvcc job)",
    )
    build.add_argument(
        "--compiler-cache",
        choices=["auto", "ccache", "sccache", "none"],
        default="auto",
        help="compiler launcher for C, C++ and CUDA (default auto: ccache, else sccache)",
    )
    build.add_argument(
        "--with-vulkan",
        action="store_true",
        help="also build a Vulkan backend if the tree finds Vulkan (warning: it re-exposes "
        "GPUs that the CUDA plan excluded)",
    )
    build.add_argument(
        "--accept-validation-hole",
        action="store_true",
        help="build a ref whose GPU discovery never validates CUDA GPUs anyway (v0.12.10 - "
        "v0.13.1-rc1); you must then run it with CUDA_VISIBLE_DEVICES",
    )
    build.add_argument(
        "--stop-after",
        choices=PHASES,
        help="stop after this phase (e.g. configure, to inspect or drive the build trees "
        "yourself); the audit runs only for complete builds",
    )
    build.add_argument(
        "--verify",
        action="store_true",
        help="after building, start the built Ollama, run a tiny generated model and check the "
        "GPUs it uses against the plan (without a GPU: start, CPU backend, load, generate)",
    )
    add_package_arguments(parser)
    add_profile_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the build summary as JSON")
    parser.set_defaults(func=run)
