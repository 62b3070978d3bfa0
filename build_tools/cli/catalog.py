"""Every command: its texts, its settings and its handler (imported only when it runs)."""

from __future__ import annotations

from build_tools.cli.spec import Command
from build_tools.pipeline.order import BUILD_STAGES
from build_tools.settings.groups import DEFAULT_REF, DEFAULT_SOURCE
from build_tools.settings.profiles import PROFILES_FILE

__all__ = ["COMMANDS", "DEFAULT_COMMAND", "PIPELINE"]

DEFAULT_COMMAND = "build"
PIPELINE = " -> ".join(BUILD_STAGES)

BUILD = Command(
    name="build",
    help="plan and build Ollama (the default command)",
    description="Fetch Ollama, detect its build generation from its files, plan the CUDA "
    "architectures, and build the CPU and CUDA backends and the Go binary into a staging tree "
    "laid out like the official release; audit it against the plan and package it.",
    epilog=f"""\
examples:
  python -m build_tools --exclude-arch 50                    # local GPUs minus the Tesla M10
  python -m build_tools build --inventory box.json --exclude-arch 50 --cuda 12.4
  python -m build_tools build --source ~/src/ollama --ref v0.6.8 --jobs 2
  python -m build_tools --dry-run build --source-dir ~/src/ollama --arch 86

order: {PIPELINE}

The default source is {DEFAULT_SOURCE} at {DEFAULT_REF}. Work happens under --workdir
(sources/, build/, staging/, logs/); the result is staging/<source>/ laid out like the official
release: bin/ollama and lib/ollama/ with the CPU backends and lib/ollama/cuda_vNN/.
""",
    settings="build_tools.settings.commands:BuildSettings",
    handler="build_tools.cli.commands.build:run",
    json=True,
    profiles=True,
)

PLAN = Command(
    name="plan",
    help="compute and validate the CUDA architecture list, with per-GPU coverage",
    description="Compute CMAKE_CUDA_ARCHITECTURES from the GPU inventory (or --arch), apply "
    "exclusions and the PTX policy, validate against the CUDA toolkit, and report which GPUs "
    "the target Ollama generation will use.",
    epilog="""\
examples:
  python -m build_tools plan --exclude-arch 50            # local GPUs minus the Tesla M10
  python -m build_tools plan --inventory box.json --exclude-arch 50 --json
  python -m build_tools plan --arch preset --exclude-arch 50,52 --cuda 12.4
  python -m build_tools plan --arch 75,86 --ptx none --ref v0.6.8
  python -m build_tools plan --inventory box.json --target-driver 580.65.06  # after an upgrade

The plan is checked against the CUDA toolkit that will build (its nvcc lists when found, else
a built-in table) and against the target Ollama's runtime rule: G1-G3 use every GPU above a
minimum compute capability, G4/G5 only GPUs whose exact cc is compiled in.
""",
    settings="build_tools.settings.commands:PlanSettings",
    handler="build_tools.cli.commands.plan:run",
    json=True,
    profiles=True,
)

DETECT = Command(
    name="detect",
    help="list local NVIDIA GPUs (index, UUID, name, compute capability, memory, MIG)",
    description="Detect NVIDIA GPUs through NVML, falling back to nvidia-smi. A machine without "
    "GPU or driver gives an empty inventory and a notice, not an error.",
    epilog="""\
examples:
  python -m build_tools detect                      # table of GPUs
  python -m build_tools detect --json               # the same as JSON on stdout
  python -m build_tools detect --output box.json    # save for planning on another machine
  python -m build_tools plan --inventory box.json --exclude-arch 50
""",
    settings="build_tools.settings.commands:DetectSettings",
    handler="build_tools.cli.commands.detect:run",
    json=True,
)

INSPECT = Command(
    name="inspect",
    help="list the backends and compiled CUDA archs of an Ollama install or tarball, and which "
    "GPUs it will use",
    description="Read an Ollama install directory, release tarball (.tgz/.tar.gz/.tar.zst, '-' "
    "for stdin) or a single CUDA library without running or extracting anything: backends, "
    "SASS/PTX per CUDA library, Ollama version and generation, and which of the local (or "
    "--inventory) GPUs this Ollama will use or skip, and why.",
    epilog="""\
examples:
  python -m build_tools inspect /usr/local                  # the official install script's prefix
  python -m build_tools inspect ollama-linux-amd64.tgz --inventory box.json
  python -m build_tools inspect dist/lib/ollama/cuda_v12/libggml-cuda.so --json
  zstd -dc ollama-linux-amd64.tar.zst | python -m build_tools inspect -

Tarballs are read without extracting anything; entries with absolute paths or '..' are skipped.
""",
    settings="build_tools.settings.commands:InspectSettings",
    handler="build_tools.cli.commands.inspect:run",
    json=True,
)

VERIFY = Command(
    name="verify",
    help="start a built Ollama, run a tiny generated model, and check which GPUs it uses",
    description="Start bin/ollama serve from an install directory or release tarball in "
    "isolation, create a tiny generated GGUF model, generate a few tokens, stop the server, and "
    "compare the GPUs its log says it uses or skips with what the install's compiled archs and "
    "your exclusions promise.",
    epilog="""\
examples:
  python -m build_tools verify dist/                         # an install directory
  python -m build_tools verify ollama-linux-amd64.tgz --exclude-arch 50
  python -m build_tools verify /opt/ollama --inventory box.json --json

The server runs on a free 127.0.0.1 port with its own OLLAMA_MODELS and HOME in a temporary
directory (kept with --keep or after a failure), inherited OLLAMA_* settings removed. On a
machine without NVIDIA GPU only start, CPU backend, model load and generation are checked.
""",
    settings="build_tools.settings.commands:VerifySettings",
    handler="build_tools.cli.commands.verify:run",
    json=True,
)

REPRODUCIBLE = Command(
    name="verify-reproducible",
    help="build twice in fresh work directories and check that the artifacts are byte-identical",
    description="Build the same ref and plan twice, each in a fresh work directory, and compare "
    "the packaged artifacts and staging trees file by file. Takes every build option (and "
    "--profile). Exit 14 when they differ.",
    settings="build_tools.settings.commands:ReproducibleSettings",
    handler="build_tools.cli.commands.reproducible:run",
    json=True,
    profiles=True,
)

TOOLKIT = Command(
    name="toolkit",
    help="install, list or remove CUDA toolkits in the user cache (no root needed)",
    description="""\
Install, list and remove CUDA toolkits in the user cache. No root, no system packages: each
toolkit is assembled from public packages into its own directory and verified by compiling and
linking a kernel before it counts as installed.""",
    epilog="""\
providers (chosen by version unless --toolkit-provider says otherwise):
  debian   CUDA 12.4.1 from Debian trixie's non-free .debs (apt-get download under a private
           apt configuration that reuses this machine's Debian mirror, dpkg-deb -x); archs 50-90
  pypi     CUDA 13.0 from NVIDIA's wheels (nvidia-cuda-nvcc, -crt, nvidia-nvvm, -runtime,
           -cccl, nvidia-cublas); archs 75-121. PyPI has no CUDA 12 compiler.

examples:
  python -m build_tools toolkit install --cuda 12.4      # GPUs from Maxwell (5.0) up to Hopper
  python -m build_tools toolkit install --cuda 13.0      # Turing (7.5) and newer, Blackwell
  python -m build_tools toolkit list --json
  python -m build_tools toolkit remove --cuda 13.0

Use a toolkit in any CMake project with both
  -DCMAKE_CUDA_COMPILER=<path>/bin/nvcc -DCUDAToolkit_ROOT=<path>
(the second stops find_package(CUDAToolkit) from picking another toolkit on the machine).""",
    children=(
        Command(
            name="install",
            help="download, assemble and verify a CUDA toolkit (a no-op when already installed)",
            description="Download, assemble and verify a CUDA toolkit in the cache. Downloads "
            "are kept, so a later re-install does not fetch them again.",
            epilog="examples:\n"
            "  python -m build_tools toolkit install --cuda 12.4\n"
            "  python -m build_tools toolkit install --cuda 13.0 --json\n"
            "  python -m build_tools --dry-run toolkit install --cuda 12.4   # show the plan",
            settings="build_tools.settings.commands:ToolkitInstallSettings",
            handler="build_tools.cli.commands.toolkit:run_install",
            json=True,
        ),
        Command(
            name="list",
            help="show installed toolkits: version, provider, archs, size, path",
            description="Show the toolkits installed in the cache. Interrupted installs never "
            "appear here.",
            epilog="example:\n  python -m build_tools toolkit list --json | jq '.toolkits[].path'",
            settings="build_tools.settings.commands:ToolkitListSettings",
            handler="build_tools.cli.commands.toolkit:run_list",
            json=True,
        ),
        Command(
            name="remove",
            help="delete an installed toolkit and its downloads",
            description="Delete an installed toolkit (all providers of that version unless "
            "--toolkit-provider is given) and, unless --keep-downloads, its downloaded packages.",
            epilog="example:\n  python -m build_tools toolkit remove --cuda 12.4 --keep-downloads",
            settings="build_tools.settings.commands:ToolkitRemoveSettings",
            handler="build_tools.cli.commands.toolkit:run_remove",
        ),
    ),
)

PATCHES = Command(
    name="patches",
    help="list the patch series, or check them against an Ollama tree without changing it",
    description="""\
Patch series are small changes to the Ollama source that build flags cannot make: a default
series is applied automatically to the releases it was written for, an opt-in one only with
`build --patch NAME`. Every patch is checked before it is applied, already applied ones are
skipped, and a patch that does not apply leaves the tree exactly as it was.""",
    epilog="""\
examples:
  python -m build_tools patches list
  python -m build_tools patches list --ref v0.13.0          # what a build of v0.13.0 gets
  python -m build_tools patches check --ref v0.13.0
  python -m build_tools patches check --source-dir ~/src/ollama --patch gpu-reservation
  python -m build_tools patches check --ref v0.24.0 --all --json

`check` never changes the tree: it applies the series to a scratch copy of the files they touch
(templates rendered with placeholder values; a build renders them with its plan).""",
    children=(
        Command(
            name="list",
            help="the series, and which apply to a release",
            settings="build_tools.settings.commands:PatchesListSettings",
            handler="build_tools.cli.commands.patches:run_list",
            json=True,
        ),
        Command(
            name="check",
            help="dry run: would each selected patch apply, is it already applied, or where "
            "does it conflict (file, hunk)",
            settings="build_tools.settings.commands:PatchesCheckSettings",
            handler="build_tools.cli.commands.patches:run_check",
            json=True,
        ),
    ),
)

RENDER = Command(
    name="render",
    help="render a GitHub Actions workflow or a Containerfile from the build profiles",
    description="Render release pipelines from the profiles in ollama-build.toml.",
    epilog=f"""\
examples:
  python -m build_tools render ci --profiles-file ci/{PROFILES_FILE} --output ci/workflow.yml
  python -m build_tools render container --profiles-file ci/{PROFILES_FILE} \\
      --profile cuda12-no-maxwell --output ci/Containerfile
  docker build -f ci/Containerfile --output type=local,dest=dist .   # or podman/buildah build

Both read the same profiles as `build --profile NAME`; --check compares with --output instead
of writing it (for CI: the committed files must match the profiles).
""",
    child_title="KIND",
    children=(
        Command(
            name="ci",
            help="a GitHub Actions workflow: a build matrix over the profiles, caches, artifact "
            "upload, and a release job on tags",
            settings="build_tools.settings.commands:RenderWorkflowSettings",
            handler="build_tools.cli.commands.render:run_ci",
        ),
        Command(
            name="container",
            help="a multi-stage Containerfile that builds one profile reproducibly; its last "
            "stage holds only the artifacts",
            settings="build_tools.settings.commands:RenderContainerSettings",
            handler="build_tools.cli.commands.render:run_container",
        ),
    ),
)

DEPLOY = Command(
    name="deploy",
    help="one Ollama per GPU group, each built for its own GPUs, behind one endpoint",
    description="""\
Serve a box with several kinds of GPU: group the GPUs (by default one group per compute
capability), build Ollama once per group for exactly that group's GPUs, run one instance per
group on its own port with CUDA_VISIBLE_DEVICES set to the group's UUIDs, and route each model
to its group's instance through one endpoint (HAProxy; LiteLLM for OpenAI-API users).""",
    epilog="""\
the seed box (3x RTX 3060 + Tesla M10), end to end:
  python -m build_tools detect --output box.json
  python -m build_tools deploy plan --inventory box.json --model llama3.1:8b=86 \\
      --model nomic-embed-text=50
  python -m build_tools deploy build --inventory box.json --prefix /opt/ollama-bt   # as plan
  python -m build_tools deploy render --inventory box.json --model llama3.1:8b=86 \\
      --model nomic-embed-text=50 --output deploy/
  python -m build_tools deploy verify deploy/

plan, build and render take the same --inventory, --group, --model and --default-group.""",
    children=(
        Command(
            name="plan",
            help="the groups: GPUs by UUID, each group's arch plan and toolkit, port, models",
            description="Group the inventory's GPUs, plan each group's CUDA architectures (its "
            "exact compute capabilities, validated as `plan` does) and toolkit (the newest one "
            "this tool can install that compiles them), give each group a port, and route the "
            "models. A GPU in two groups is an error, a GPU in none a warning.",
            epilog="examples:\n"
            "  python -m build_tools deploy plan --inventory box.json --json\n"
            "  python -m build_tools deploy plan --inventory box.json --group big=cc:8.6 \\\n"
            "      --group small=name:*M10* --model llama3.1:8b=big --model all-minilm=small\n"
            "  python -m build_tools deploy plan --group fast=index:0,1 --group slow=index:2 "
            "--ref v0.6.8",
            settings="build_tools.settings.deploy:DeployPlanSettings",
            handler="build_tools.cli.commands.deploy:run_plan",
            json=True,
        ),
        Command(
            name="build",
            help="build Ollama once per group, each for its own GPUs, into PREFIX/<group>",
            description="Run the build pipeline once per group (its own work directory, dist "
            "directory and toolkit), audit each build against its group's plan, and install it "
            "into PREFIX/<group>. Takes build's source, patch, compile and package options.",
            epilog=f"order per group: {PIPELINE}, then install into PREFIX/<group>\n\n"
            "examples:\n"
            "  python -m build_tools deploy build --inventory box.json --prefix /opt/ollama-bt\n"
            "  python -m build_tools --dry-run deploy build --inventory box.json --ref v0.32.2",
            settings="build_tools.settings.deploy:DeployBuildSettings",
            handler="build_tools.cli.commands.deploy:run_build",
            json=True,
        ),
        Command(
            name="render",
            help="write systemd units, compose files and router configurations for the groups",
            description="Write deploy.json and, per --format: systemd units (one per group, "
            "the router's and a target; --user for user units), compose files (Docker device "
            "reservations and Podman CDI names, by UUID), router configurations (HAProxy, "
            "LiteLLM, and advice for Open WebUI). Warns about an existing ollama.service and "
            "drop-ins that would override the units' environment.",
            epilog="examples:\n"
            "  python -m build_tools deploy render --inventory box.json --model llama3.1:8b=86 "
            "--output deploy/\n"
            "  python -m build_tools deploy render --inventory box.json --format systemd --user "
            "--prefix %h/ollama-bt --output deploy-user/",
            settings="build_tools.settings.deploy:DeployRenderSettings",
            handler="build_tools.cli.commands.deploy:run_render",
            json=True,
        ),
        Command(
            name="verify",
            help="start the rendered instances and the real router on loopback and check that "
            "each model reaches its group's instance",
            description="Without systemd: start every instance with the command and environment "
            "of its rendered unit (on free loopback ports, with a temporary shared models "
            "directory), create a tiny generated model under each routed name, send a request "
            "for each through the real router, and ask every instance (GET /api/ps) which one "
            "answered. On a GPU box also report which GPUs each instance used. Exit 13 when a "
            "request reaches the wrong instance. Stops everything it started, also on "
            "SIGTERM/SIGINT.",
            epilog="examples:\n"
            "  python -m build_tools deploy verify deploy/\n"
            "  python -m build_tools deploy verify deploy/ --router litellm "
            "--litellm ~/litellm/bin/litellm --json",
            settings="build_tools.settings.deploy:DeployVerifySettings",
            handler="build_tools.cli.commands.deploy:run_verify",
            json=True,
        ),
    ),
)

UPSTREAM = Command(
    name="upstream",
    help="check Ollama's newest release tags against what this version knows",
    description="""\
Ollama keeps releasing. This version knows its release tags up to the newest one its generation
registry was checked against; a later tag may be built like the last known one, or may have moved
a signature file, a stock arch list or the code a patch series changes.""",
    children=(
        Command(
            name="check",
            help="list release tags newer than the registry and say, for each, whether its tree "
            "is recognised, whether its stock lists changed and whether each patch series applies",
            description="List the release tags (vX.Y.Z, vX.Y.Z-rcN) of --source newer than the "
            "newest tag the generation registry knows (or than --since TAG). For each: is its "
            "tree the generation its tag range says (else which signature files no longer "
            "match), do its presets' stock arch lists equal the built-in table, and does each "
            "current patch series of its generation apply. Files are read from git without a "
            "checkout; a URL's new tags are fetched shallow into --workdir. Exit 12 when a tag "
            "is a surprise.",
            epilog="examples:\n"
            "  python -m build_tools upstream check                # github.com/ollama/ollama\n"
            "  python -m build_tools upstream check --source ~/src/ollama --json\n"
            "  python -m build_tools upstream check --source ~/src/ollama --since v0.32.15-rc0",
            settings="build_tools.settings.upstream:UpstreamCheckSettings",
            handler="build_tools.cli.commands.upstream:run_check",
            json=True,
        ),
    ),
)

COMMANDS: tuple[Command, ...] = (
    BUILD,
    DEPLOY,
    DETECT,
    INSPECT,
    PATCHES,
    PLAN,
    RENDER,
    REPRODUCIBLE,
    TOOLKIT,
    UPSTREAM,
    VERIFY,
)
