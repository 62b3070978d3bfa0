"""The profiles file: where it is found, and its shape (option keys are checked in ``values``)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.errors import ConfigurationError
from build_tools.files import read_regular

__all__ = [
    "PROFILES_FILE",
    "Profile",
    "ProfilesFile",
    "did_you_mean",
    "find_profiles_file",
    "load_profiles",
]

PROFILES_FILE = "ollama-build.toml"
META_KEYS = frozenset({"description"})
MAX_PROFILES_BYTES = 2**20
# A description is one line of text: it is written into comments of rendered files.
_DESCRIPTION = re.compile(r"[^\x00-\x1f\x7f]{1,200}\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    description: str | None
    values: Mapping[str, Any]  # option key -> raw TOML value


@dataclass(frozen=True, kw_only=True)
class ProfilesFile:
    path: Path
    profiles: Mapping[str, Profile]  # in file order; the first is the default

    @property
    def default(self) -> Profile:
        return next(iter(self.profiles.values()))

    def get(self, name: str) -> Profile:
        if name in self.profiles:
            return self.profiles[name]
        raise ConfigurationError(
            f"{self.path}: no profile named '{name}'",
            hint=did_you_mean(name, self.profiles) + "profiles: " + ", ".join(self.profiles),
        )


def did_you_mean(word: str, candidates: Sequence[str] | Mapping[str, Any]) -> str:
    import difflib  # only for a mistyped name

    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def find_profiles_file(
    explicit: Path | None, cwd: Path | None = None, *, needed_by: str = "--profile"
) -> Path:
    """``--profiles-file``, else ./ollama-build.toml, else ./pyproject.toml with a
    [tool.build_tools] table. ``needed_by`` names what asked for it, for the error."""
    if explicit is not None:
        if not explicit.is_file():
            what = "no such file" if not explicit.exists() else "not a regular file"
            raise ConfigurationError(f"--profiles-file {explicit}: {what}")
        return explicit
    here = Path.cwd() if cwd is None else cwd
    if (here / PROFILES_FILE).is_file():
        return here / PROFILES_FILE
    pyproject = here / "pyproject.toml"
    if pyproject.is_file() and _tool_table(_read_toml(pyproject), pyproject) is not None:
        return pyproject
    raise ConfigurationError(
        f"{needed_by} needs a profiles file, and {here} has neither {PROFILES_FILE} nor a "
        "[tool.build_tools] table in pyproject.toml",
        hint="pass --profiles-file FILE (see ci/ollama-build.toml for an example)",
    )


def _tool_table(data: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """``[tool.build_tools]`` of a pyproject.toml; None when it has none."""
    tool = data.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise ConfigurationError(f"{path}: 'tool' must be a table")
    table = tool.get("build_tools")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [tool.build_tools] must be a table")
    return table


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = read_regular(path, limit=MAX_PROFILES_BYTES)
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigurationError(
            f"{path} is not UTF-8 text (byte {error.start})", hint="TOML files are UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path} is not valid TOML: {error}") from None
    except RecursionError:
        raise ConfigurationError(f"{path} is not valid TOML: nested too deeply") from None


def load_profiles(path: Path) -> ProfilesFile:
    """Read and shape-check a profiles file; option keys are checked by :func:`profile_values`."""
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = _tool_table(data, path) or {}
    unknown = sorted(set(data) - {"profiles"})
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown top-level key '{unknown[0]}'",
            hint=did_you_mean(unknown[0], ["profiles"]) + "profiles go in [profiles.NAME] tables",
        )
    tables = data.get("profiles", {})
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(
            f"{path} defines no profiles",
            hint="add a table such as [profiles.lab] with arch = ['86']",
        )
    profiles: dict[str, Profile] = {}
    for name, table in tables.items():
        if not _NAME.match(name):
            raise ConfigurationError(
                f"{path}: profile name '{name}' must be letters, digits, '.', '_' or '-'",
                hint="it names CI jobs, artifacts and shell arguments",
            )
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: profiles.{name} must be a table of options")
        description = table.get("description")
        if description is not None and not isinstance(description, str):
            raise ConfigurationError(f"{path}: profiles.{name}.description must be a string")
        if description is not None and not _DESCRIPTION.match(description):
            raise ConfigurationError(
                f"{path}: profiles.{name}.description must be one line of at most 200 characters",
                hint="it names the profile in rendered files and CI jobs",
            )
        values = {k: v for k, v in table.items() if k not in META_KEYS}
        profiles[name] = Profile(name=name, description=description, values=values)
    return ProfilesFile(path=path, profiles=profiles)
