"""Parsers for option values: one raw string in, a checked value out.

Each raises ``ValueError`` with what was expected (the resolver names the option and the
source) or a :class:`~build_tools.errors.ConfigurationError` of its own. Values that end up in
commands, file names or rendered files are checked against strict patterns here, at the edge.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from build_tools.planning.archs import PtxPolicy, parse_arch_token, split_arch_list

__all__ = [
    "MAX_EPOCH",
    "PROFILE_NAME",
    "apt_snapshot",
    "arch_list",
    "cron_schedule",
    "cuda_version",
    "driver_version",
    "generation_name",
    "git_ref",
    "go_version",
    "path",
    "pinned_image",
    "positive_int",
    "profile_name",
    "ptx_policy",
    "release_tag",
    "seconds",
    "source_location",
    "timestamp",
]

# The largest mtime a ustar header holds (11 octal digits): about the year 2242.
MAX_EPOCH = 8**11 - 1
PRESET = "preset"
# Branch, tag or commit names git accepts, minus anything a shell or git option could misread.
_GIT_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+-]+(?<![./])\Z")


# Far above any machine's cores; a larger --jobs is a typo, not a request.
MAX_COUNT = 4096


def positive_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COUNT:
        raise ValueError(f"expected a whole number from 1 to {MAX_COUNT}")
    return value


def timestamp(text: str) -> int:
    """Seconds since 1970 (SOURCE_DATE_EPOCH): a whole number a tar header can hold."""
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_EPOCH:
        raise ValueError(
            f"expected a whole number of seconds since 1970 between 0 and {MAX_EPOCH}, "
            "e.g. $(git log -1 --format=%ct)"
        )
    return value


def seconds(text: str) -> float:
    """A positive, finite duration (at most a day)."""
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 86400):
        raise ValueError("expected a number of seconds above 0 and at most 86400")
    return value


def path(text: str) -> Path:
    if not text.strip():
        raise ValueError("expected a path, not an empty string")
    if "\0" in text:
        raise ValueError("a path cannot contain a NUL byte")
    return Path(text).expanduser()


def cuda_version(text: str) -> str:
    # The toolkit module knows which versions can be installed; imported here, on use.
    from build_tools.toolkit.request import normalize_cuda_version

    return normalize_cuda_version(text)


def driver_version(text: str) -> str:
    """An NVIDIA driver version as ``nvidia-smi`` prints it (580.65.06, 570.26)."""
    from build_tools.gpus.driver import parse_driver_version

    parsed = parse_driver_version(text)
    if parsed is None:
        raise ValueError("expected an NVIDIA driver version such as 580.65.06")
    return parsed.text


def arch_list(text: str) -> str:
    """One ``--arch``/``--exclude-arch`` value: a comma or semicolon separated list whose every
    token parses (``preset`` included); kept as typed, the planner interprets it."""
    tokens = split_arch_list([text])
    if not tokens:
        raise ValueError("expected architectures such as 86 or 75,86, not an empty list")
    for token in tokens:
        if token.lower() != PRESET:
            parse_arch_token(token)
    return text


def ptx_policy(text: str) -> PtxPolicy:
    return PtxPolicy(text)


def generation_name(text: str) -> str:
    from build_tools.generations import registry

    return registry().get(text).name


def release_tag(text: str) -> str:
    """An Ollama release tag (``v0.6.8``, ``v0.12.10-rc0``)."""
    from build_tools.generations import OllamaVersion

    return str(OllamaVersion.parse(text))


def git_ref(text: str) -> str:
    """A tag, branch or commit: git's ref syntax, never something git reads as an option."""
    if not _GIT_REF.match(text):
        raise ValueError("expected a tag, branch or commit name such as v0.24.0 or main")
    return text


def source_location(text: str) -> str:
    """A git URL or a local path; never empty, never an option."""
    if not text.strip() or text.startswith("-") or "\0" in text or "\n" in text:
        raise ValueError("expected a git URL or a local repository path")
    return text


_GO_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)?\Z")
_PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}\Z")
_SNAPSHOT = re.compile(r"^\d{8}T\d{6}Z\Z")
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def go_version(text: str) -> str:
    """A Go release number (``1.26.6``): it goes into a rendered `pip install` line."""
    if not _GO_VERSION.match(text):
        raise ValueError("expected a Go version such as 1.26.6")
    return text


def pinned_image(text: str) -> str:
    """A container image pinned by digest, ``NAME[:TAG]@sha256:<64 hex>``."""
    if not _PINNED_IMAGE.match(text):
        raise ValueError(
            "expected an image pinned by digest, NAME[:TAG]@sha256:<64 hex digits> "
            "(e.g. from `docker buildx imagetools inspect NAME:TAG`)"
        )
    return text


def apt_snapshot(text: str) -> str | None:
    """A snapshot.debian.org timestamp (``20251229T000000Z``), or ``none``."""
    if text == "none":
        return None
    if not _SNAPSHOT.match(text):
        raise ValueError("expected a snapshot.debian.org timestamp YYYYMMDDTHHMMSSZ, or none")
    return text


def profile_name(text: str) -> str:
    """A profile name: it names CI jobs, artifacts and shell arguments."""
    if not PROFILE_NAME.match(text):
        raise ValueError("expected letters, digits, '.', '_' or '-'")
    return text


# The five fields of a cron schedule as GitHub Actions reads them (POSIX cron plus steps):
# name, lowest value, highest value, and the names the field also takes.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    ),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_CRON_ITEM = re.compile(
    r"^(?P<base>\*|(?P<low>\w+)(?:-(?P<high>\w+))?)(?:/(?P<step>\d+))?\Z", re.ASCII
)


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...]) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + low
    if not (text.isascii() and text.isdecimal()) or not low <= int(text) <= high:
        raise ValueError
    return int(text)


def _cron_field(text: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for item in text.split(","):
        match = _CRON_ITEM.match(item)
        if match is None:
            raise ValueError
        if match["low"] is not None:
            first = _cron_value(match["low"], low, high, names)
            last = first if match["high"] is None else _cron_value(match["high"], low, high, names)
            if last < first:
                raise ValueError
        if match["step"] is not None and not 1 <= int(match["step"]) <= high:
            raise ValueError


def cron_schedule(text: str) -> str:
    """A cron schedule for a rendered GitHub workflow (``0 6 * * 1``): five fields of numbers,
    names, ``*``, ranges, lists and steps, each in its field's range; spaces normalised."""
    fields = text.split()
    if len(text) > 200 or len(fields) != len(_CRON_FIELDS):
        raise ValueError(
            "expected five fields: minute hour day-of-month month day-of-week, e.g. '0 6 * * 1'"
        )
    for value, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        try:
            _cron_field(value, low, high, names)
        except ValueError:
            raise ValueError(
                f"the {name} field {value!r} is not *, a number from {low} to {high}, a range, "
                "a list or a step (*/N)"
            ) from None
    return " ".join(fields)
