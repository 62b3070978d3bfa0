"""Rules of the code base that keep it easy to extend, checked instead of hoped for.

- layers never import upwards (import-linter's contract in pyproject.toml);
- only the command line parser knows argparse;
- no code outside the generation registry compares generation names;
- each command declares each option once;
- the exit codes in the README are errors.EXIT_CODES;
- the build order in --help is the order run_build executes;
- .ci/run runs exactly the README's test command;
- `plan` and `detect` load none of the build pipeline's modules (start-up time).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.cli.catalog import COMMANDS
from build_tools.cli.spec import Command
from build_tools.errors import EXIT_CODES
from build_tools.pipeline.order import BUILD_STAGES
from build_tools.pipeline.run import STAGES
from build_tools.settings.declare import declared_options

from boxes import SEED_BOX, write_json_inventory

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "build_tools"


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_layers_never_import_upwards() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is a test dependency"
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 kept, 0 broken" in result.stdout


def test_only_the_command_line_parser_knows_argparse() -> None:
    importers = [
        path.relative_to(REPO).as_posix()
        for path in sources()
        if re.search(r"^\s*(import argparse|from argparse import)", path.read_text(), re.M)
    ]
    assert importers == ["build_tools/cli/parser.py"]


def test_no_code_compares_generation_names() -> None:
    """Code asks a generation for capabilities; names live in the registry (and in texts)."""
    pattern = re.compile(r"""(==|!=|\bis\b|\bin\b)\s*\(?["']G\d["']|Generation\.G\d""")
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sources()
        if "generations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []


def leaves(commands: tuple[Command, ...]) -> list[Command]:
    return [leaf for c in commands for leaf in (leaves(c.children) if c.children else [c])]


def test_each_command_declares_each_option_once() -> None:
    for command in leaves(COMMANDS):
        settings = command.settings_type()
        assert settings is not None, command.name
        keys = Counter(d.option.key for d in declared_options(settings))
        flags = Counter(f for d in declared_options(settings) for f in d.option.flags)
        assert [k for k, n in keys.items() if n > 1] == [], command.name
        assert [f for f, n in flags.items() if n > 1] == [], command.name


def readme() -> str:
    return (REPO / "README.md").read_text()


def test_readme_exit_codes_are_the_error_classes() -> None:
    section = readme().split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M)
    assert {int(code): meaning for code, meaning in rows} == EXIT_CODES
    assert [int(code) for code, _ in rows] == sorted(EXIT_CODES)


def test_help_shows_the_order_the_build_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert tuple(name for name, _ in STAGES) == BUILD_STAGES
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert " -> ".join(BUILD_STAGES) in capsys.readouterr().out


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", readme(), re.S)
    (command,) = [b.strip() for b in blocks if "pytest" in b and "ruff" in b]
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


# What only a build, an inspection, a deploy or a render needs. `plan` and `detect` run often
# (scripts, CI matrices, shell completion of a profile): they must not pay for loading these.
BUILD_ONLY_MODULES = (
    "build_tools.audit",
    "build_tools.build_plan",
    "build_tools.cli.commands.build",
    "build_tools.deploy",
    "build_tools.package",
    "build_tools.patching",
    "build_tools.pipeline.prepare",
    "build_tools.pipeline.run",
    "build_tools.pipeline.steps",
    "build_tools.recipes",
    "build_tools.render",
    "build_tools.settings.deploy",
    "build_tools.source.checkout",
    "build_tools.source.llama_cpp",
    "build_tools.verify",
    "elftools",
    "jinja2",
    "zstandard",
)

# Runs one command in a fresh interpreter and writes the names of every module it loaded.
LOADED_MODULES = """\
import json, sys
from build_tools.__main__ import main
try:
    code = main(sys.argv[2:])
except SystemExit as stop:  # --help
    code = stop.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def loaded_by(args: list[str], tmp_path: Path) -> list[str]:
    report = tmp_path / "modules.json"
    run = subprocess.run(
        [sys.executable, "-c", LOADED_MODULES, str(report), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(report.read_text())
    assert result["code"] == 0, run.stderr
    modules: list[str] = result["modules"]
    return modules


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["plan", "--inventory", "{inventory}", "--json"], id="plan"),
        pytest.param(["detect", "--json"], id="detect"),
        pytest.param(["--help"], id="help"),
    ],
)
def test_plan_and_detect_load_no_build_modules(args: list[str], tmp_path: Path) -> None:
    inventory = write_json_inventory(tmp_path / "box.json", SEED_BOX)
    modules = loaded_by([a.format(inventory=inventory) for a in args], tmp_path)
    assert "build_tools.cli.spec" in modules  # the run did go through the command line
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in BUILD_ONLY_MODULES)]
    assert heavy == []
