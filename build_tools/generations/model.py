"""One Ollama build generation as a value: everything the tool needs to know about it.

A row of ``registry.toml`` becomes a :class:`Generation`. Code asks a generation for a
capability (its runtime rule, where its presets live, whether its tree pins llama.cpp, whether
Vulkan is on by default ...) and never compares generation names; the reference for every
value is ``docs/generations.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from build_tools.errors import ConfigurationError

from .version import OllamaVersion

__all__ = [
    "ArchSyntax",
    "CpuFeature",
    "CpuVariant",
    "CpuVariantSet",
    "DriverRule",
    "DriverRules",
    "Generation",
    "LayoutClue",
    "OwnArchBackend",
    "RuntimeRule",
    "SkipLog",
    "SkipLogFormat",
    "StockLists",
    "TreeSignature",
    "parse_cpu_features",
    "parse_generation",
]

RuntimeRule = Literal["minimum", "exact"]
# How the tree takes its arch list: CMake's CMAKE_CUDA_ARCHITECTURES (86, 86-real, 86-virtual)
# or the make era's CUDA_ARCHITECTURES (bare numbers, SASS and PTX for each).
ArchSyntax = Literal["cmake", "make"]
# How a server log says that a GPU was left out; each format has one reader in verify/logparse.
SkipLogFormat = Literal["too_old", "init_failed", "arch_not_compiled"]


@dataclass(frozen=True, kw_only=True)
class TreeSignature:
    """How a source tree of this generation is recognised and read."""

    files: tuple[str, ...]  # all must exist (checked newest generation first)
    presets_file: str | None  # CMakePresets.json holding the CUDA presets
    cuda_preset: str | None  # the preset a build with our arch list selects ("CUDA {major}")
    # The presets holding the stock list ("llama_cuda_v{major}_linux"), newest name first: a
    # generation may have renamed them (G5 before v0.30.0-rc26: "cuda-v{major}").
    stock_presets: tuple[str, ...]
    llama_cpp_pin: str | None  # file naming the llama.cpp tag the build fetches
    go_ldflags: str | None  # CMake file whose set(OLLAMA_GO_LDFLAGS ...) the release uses
    # CMake file whose install(TARGETS ... ${_base_dest}) names the programs the build ships
    server_install: str | None = None
    # The libraries it may install that the shipped programs link (so the build makes them)
    server_linked_libraries: tuple[str, ...] = ()
    arch_syntax: ArchSyntax

    def cuda_preset_name(self, cuda_major: int) -> str | None:
        return None if self.cuda_preset is None else self.cuda_preset.format(major=cuda_major)

    def stock_preset_names(self, cuda_major: int) -> tuple[str, ...]:
        return tuple(name.format(major=cuda_major) for name in self.stock_presets)


@dataclass(frozen=True, kw_only=True)
class LayoutClue:
    """A path pattern that points to this generation in an installed ``lib/ollama``.

    Clues are tried by rank, lowest first; generations that share a pattern at the same rank
    are both candidates (G3 and G4 install the same layout).
    """

    rank: int
    pattern: str  # regular expression matched at the start of paths under lib/ollama
    evidence: str


@dataclass(frozen=True, kw_only=True)
class SkipLog:
    """A server-log message that says this generation left a GPU out."""

    format: SkipLogFormat
    message: str  # the slog msg (or, for "too_old", the text inside the message)
    probe_message: str | None = None  # init_failed: the earlier line naming cc and GPU


@dataclass(frozen=True, kw_only=True)
class OwnArchBackend:
    """A backend that compiles device code from its own arch variable, not from
    ``CMAKE_CUDA_ARCHITECTURES``: it must follow the plan or stay off."""

    name: str
    arch_variable: str
    switch: str  # the cache variable that turns the backend on
    since: OllamaVersion


@dataclass(frozen=True, kw_only=True)
class DriverRule:
    """Ollama drops a CUDA GPU at run time when its driver branch is below ``driver_below``,
    for GPUs below ``below_cc`` (None: every CUDA GPU) and with a CUDA runtime of
    ``cuda``'s major at that minor or newer (None: any runtime)."""

    driver_below: int
    below_cc: tuple[int, int] | None
    cuda: tuple[int, int] | None

    def drops(self, cc: tuple[int, int], runtime: tuple[int, int], driver_branch: int) -> bool:
        if driver_branch >= self.driver_below:
            return False
        if self.below_cc is not None and cc >= self.below_cc:
            return False
        return self.cuda is None or (runtime[0] == self.cuda[0] and runtime >= self.cuda)

    def describe(self) -> str:
        gpus = (
            "every CUDA GPU"
            if self.below_cc is None
            else (f"GPUs below cc {self.below_cc[0]}.{self.below_cc[1]}")
        )
        runtime = (
            ""
            if self.cuda is None
            else (f"with a CUDA {self.cuda[0]}.x runtime >= {self.cuda[0]}.{self.cuda[1]}, ")
        )
        return f"{runtime}{gpus} need driver {self.driver_below} or newer"


@dataclass(frozen=True, kw_only=True)
class DriverRules:
    since: OllamaVersion  # first tag with these rules
    rules: tuple[DriverRule, ...]


@dataclass(frozen=True, kw_only=True)
class StockLists:
    since: OllamaVersion  # first tag with these lists
    lists: Mapping[int, str]  # CUDA major -> stock CMAKE_CUDA_ARCHITECTURES


@dataclass(frozen=True, kw_only=True)
class CpuFeature:
    """A ggml CPU feature: the /proc/cpuinfo flags a variant built with it needs, and its
    weight in ggml's score (the loadable variant with the highest score is the one used)."""

    name: str  # "AVX2", as ggml_add_cpu_backend_variant() names it
    flags: tuple[str, ...]
    score: int


@dataclass(frozen=True, kw_only=True)
class CpuVariant:
    name: str  # "haswell": target ggml-cpu-haswell, file libggml-cpu-haswell.so
    features: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class CpuVariantSet:
    """The CPU backend variants a tree builds with GGML_CPU_ALL_VARIANTS, from tag ``since``."""

    since: OllamaVersion
    baseline: str  # the variant every CPU the set supports can load
    variants: tuple[CpuVariant, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)


@dataclass(frozen=True, kw_only=True)
class Generation:
    name: str  # "G5"
    title: str
    first_tag: OllamaVersion
    last_tag: OllamaVersion | None  # None: still current
    # The newest tag a still-current row was checked against (upstream check starts after it).
    checked_through: OllamaVersion | None = None
    recipe: str | None  # "module:Class" building it; None: not buildable by this tool
    rule: RuntimeRule
    default_min: tuple[int, int] | None  # rule "minimum": the cc Ollama uses from, unchanged
    # rule "minimum": the Go variables (-X) that hold the minimum, when it can be set at link time
    min_cc_go_variables: tuple[str, str] | None
    validation_hole: tuple[OllamaVersion, OllamaVersion] | None  # tags that never validate
    vulkan_default_on: bool  # a shipped Vulkan backend is used unless OLLAMA_VULKAN=0
    skip_logs: tuple[SkipLog, ...]
    tree: TreeSignature
    layout_clues: tuple[LayoutClue, ...]
    own_arch_backends: tuple[OwnArchBackend, ...]
    stock: tuple[StockLists, ...]  # oldest first
    driver_rules: tuple[DriverRules, ...] = ()  # oldest first
    cpu_variants: tuple[CpuVariantSet, ...] = ()  # oldest first; empty: no variant data

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        return f"{self.name} ({self.title}, {self.tag_range})"

    @property
    def tag_range(self) -> str:
        last = str(self.last_tag) if self.last_tag is not None else "newest"
        return f"{self.first_tag} - {last}"

    @property
    def min_cc_at_link_time(self) -> bool:
        """The minimum compute capability is a Go variable the build sets from the plan."""
        return self.min_cc_go_variables is not None

    @property
    def known_through(self) -> OllamaVersion:
        """The newest tag this row's facts are known for: its last tag, else the tag it was
        last checked against, else the newest tag any of its facts starts at."""
        if self.last_tag is not None:
            return self.last_tag
        if self.checked_through is not None:
            return self.checked_through
        starts = [self.first_tag, *(s.since for s in self.stock)]
        starts += [b.since for b in self.own_arch_backends]
        return max(starts)

    def covers(self, version: OllamaVersion) -> bool:
        return self.first_tag <= version and (self.last_tag is None or version <= self.last_tag)

    def stock_lists(self, ref: OllamaVersion | None = None) -> StockLists | None:
        """The built-in stock lists at ``ref`` (default: the generation's newest): each row
        holds every list its tags ship, so a CUDA major missing from it was not shipped."""
        candidates = [s for s in self.stock if ref is None or s.since <= ref]
        return candidates[-1] if candidates else None

    def stock_list(self, cuda_major: int, ref: OllamaVersion | None = None) -> str | None:
        """The built-in stock list for a CUDA major at ``ref`` (default: the newest)."""
        stock = self.stock_lists(ref)
        return None if stock is None else stock.lists.get(cuda_major)

    def driver_rules_at(self, ref: OllamaVersion | None) -> tuple[DriverRule, ...]:
        """The rules by which Ollama ``ref`` (default: the generation's newest) drops GPUs for
        their driver."""
        candidates = [r for r in self.driver_rules if ref is None or r.since <= ref]
        return candidates[-1].rules if candidates else ()

    def cuda_majors(self) -> list[int]:
        return sorted({major for s in self.stock for major in s.lists})

    def in_validation_hole(self, ref: OllamaVersion) -> bool:
        hole = self.validation_hole
        return hole is not None and hole[0] <= ref <= hole[1]

    def cpu_variants_at(self, ref: OllamaVersion | None) -> CpuVariantSet | None:
        """The CPU variants a tree at ``ref`` builds (default: the generation's newest)."""
        candidates = [s for s in self.cpu_variants if ref is None or s.since <= ref]
        return candidates[-1] if candidates else None

    def own_arch_backends_at(self, ref: OllamaVersion | None) -> tuple[OwnArchBackend, ...]:
        """The backends with their own arch variable that a tree at ``ref`` may have."""
        return tuple(b for b in self.own_arch_backends if ref is None or b.since <= ref)


# --- reading a row ----------------------------------------------------------------------------
class _Row:
    """Typed access to one TOML table, with errors that name the row and key."""

    def __init__(self, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where} must be a table")
        self.where = where
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def _get(self, key: str, kind: type | tuple[type, ...], required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigurationError(f"{self.where}: '{key}' is missing")
            return None
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise ConfigurationError(f"{self.where}: '{key}' has the wrong type")
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        return cast(str | None, self._get(key, str, required))

    def required_text(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def flag(self, key: str) -> bool:
        return bool(self._get(key, bool, False))

    def number(self, key: str) -> int:
        return cast(int, self._get(key, int, True))

    def texts(self, key: str) -> tuple[str, ...]:
        values = self._get(key, list, False) or []
        if not all(isinstance(v, str) for v in values):
            raise ConfigurationError(f"{self.where}: '{key}' must be a list of strings")
        return tuple(values)

    def table(self, key: str) -> _Row:
        return _Row(f"{self.where}.{key}", self._get(key, dict, False) or {})

    def tables(self, key: str) -> list[_Row]:
        values = self._get(key, list, False) or []
        return [_Row(f"{self.where}.{key}[{i}]", v) for i, v in enumerate(values)]

    def tag(self, key: str, *, required: bool = False) -> OllamaVersion | None:
        value = self.text(key, required=required)
        return None if value is None else OllamaVersion.parse(value)

    def check_known(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigurationError(f"{self.where}: unknown key '{unknown[0]}'")


def _choice(row: _Row, key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = row.text(key) or default
    if value not in allowed:
        raise ConfigurationError(f"{row.where}: '{key}' must be one of {', '.join(allowed)}")
    return value


def _cc(row: _Row, key: str) -> tuple[int, int] | None:
    value = row.text(key)
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)", value)
    if match is None:
        raise ConfigurationError(f"{row.where}: '{key}' must be a compute capability like 5.0")
    return int(match[1]), int(match[2])


def _names(row: _Row, key: str) -> tuple[str, ...]:
    """A key that holds one name or a list of names (newest first)."""
    value = row.data.get(key)
    return (row.required_text(key),) if isinstance(value, str) else row.texts(key)


def _tree(row: _Row) -> TreeSignature:
    files = row.texts("files")
    if not files:
        raise ConfigurationError(f"{row.where}: 'files' must name the files that mark the tree")
    signature = TreeSignature(
        files=files,
        presets_file=row.text("presets_file"),
        cuda_preset=row.text("cuda_preset"),
        stock_presets=_names(row, "stock_preset"),
        llama_cpp_pin=row.text("llama_cpp_pin"),
        go_ldflags=row.text("go_ldflags"),
        server_install=row.text("server_install"),
        server_linked_libraries=row.texts("server_linked_libraries"),
        arch_syntax=cast(ArchSyntax, _choice(row, "arch_syntax", get_args(ArchSyntax), "cmake")),
    )
    row.check_known()
    return signature


def _runtime(row: _Row) -> dict[str, Any]:
    rule = cast(RuntimeRule, _choice(row, "rule", get_args(RuntimeRule)))
    variables = row.texts("min_cc_go_variables")
    if variables and len(variables) != 2:
        raise ConfigurationError(f"{row.where}: 'min_cc_go_variables' names major and minor")
    hole = row.texts("validation_hole")
    if hole and len(hole) != 2:
        raise ConfigurationError(f"{row.where}: 'validation_hole' is [first tag, last tag]")
    skip_logs = []
    for entry in row.tables("skip_log"):
        skip_logs.append(
            SkipLog(
                format=cast(SkipLogFormat, _choice(entry, "format", get_args(SkipLogFormat))),
                message=entry.required_text("message"),
                probe_message=entry.text("probe_message"),
            )
        )
        entry.check_known()
    values = {
        "rule": rule,
        "default_min": _cc(row, "default_min"),
        "min_cc_go_variables": (variables[0], variables[1]) if variables else None,
        "validation_hole": (OllamaVersion.parse(hole[0]), OllamaVersion.parse(hole[1]))
        if hole
        else None,
        "vulkan_default_on": row.flag("vulkan_default_on"),
        "skip_logs": tuple(skip_logs),
    }
    if rule == "minimum" and values["default_min"] is None:
        raise ConfigurationError(f"{row.where}: a 'minimum' rule needs default_min")
    row.check_known()
    return values


def _stock(rows: list[_Row]) -> tuple[StockLists, ...]:
    stock = []
    for row in rows:
        since = row.tag("since", required=True)
        assert since is not None
        lists = {}
        for key in row.data:
            if key == "since":
                continue
            match = re.fullmatch(r"cuda(\d+)", key)
            if match is None:
                raise ConfigurationError(f"{row.where}: '{key}' is not cudaNN")
            lists[int(match[1])] = row.required_text(key)
        stock.append(StockLists(since=since, lists=lists))
    return tuple(sorted(stock, key=lambda s: s.since))


def _cuda_version(row: _Row, key: str) -> tuple[int, int] | None:
    value = row.text(key)
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)", value)
    if match is None:
        raise ConfigurationError(f"{row.where}: '{key}' must be a CUDA version like 12.4")
    return int(match[1]), int(match[2])


def _driver_rules(rows: list[_Row]) -> tuple[DriverRules, ...]:
    sets = []
    for row in rows:
        since = row.tag("since", required=True)
        assert since is not None
        rules = []
        for entry in row.tables("rules"):
            rules.append(
                DriverRule(
                    driver_below=entry.number("driver_below"),
                    below_cc=_cc(entry, "below_cc"),
                    cuda=_cuda_version(entry, "cuda"),
                )
            )
            entry.check_known()
        row.check_known()
        sets.append(DriverRules(since=since, rules=tuple(rules)))
    return tuple(sorted(sets, key=lambda r: r.since))


_VARIANT_NAME = re.compile(r"[a-z][a-z0-9_.]{0,31}")
_FEATURE_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_CPU_FLAG = re.compile(r"[a-z0-9_]{1,32}")


def _cpu_variants(rows: list[_Row]) -> tuple[CpuVariantSet, ...]:
    sets = []
    for row in rows:
        since = row.tag("since", required=True)
        baseline = row.required_text("baseline")
        assert since is not None
        variants = []
        for key in row.data:
            if key in {"since", "baseline"}:
                continue
            features = row.required_text(key).split()
            if _VARIANT_NAME.fullmatch(key) is None or not all(
                _FEATURE_NAME.fullmatch(f) for f in features
            ):
                raise ConfigurationError(f"{row.where}: '{key}' is not a variant = \"FEATURES\"")
            variants.append(CpuVariant(name=key, features=tuple(features)))
        if baseline not in {v.name for v in variants}:
            raise ConfigurationError(
                f"{row.where}: baseline '{baseline}' is not one of its variants"
            )
        sets.append(CpuVariantSet(since=since, baseline=baseline, variants=tuple(variants)))
    return tuple(sorted(sets, key=lambda s: s.since))


def parse_cpu_features(data: Any) -> dict[str, CpuFeature]:
    """The registry's ``[cpu_features]`` table."""
    table = _Row("generation registry [cpu_features]", data)
    features = {}
    for name in list(table.data):
        entry = table.table(name)
        flags = (entry.text("flags", required=True) or "").split()
        if _FEATURE_NAME.fullmatch(name) is None or not all(_CPU_FLAG.fullmatch(f) for f in flags):
            raise ConfigurationError(f"{table.where}: '{name}' is not FEATURE = {{ flags, score }}")
        features[name] = CpuFeature(name=name, flags=tuple(flags), score=entry.number("score"))
        entry.check_known()
    return features


def parse_generation(name: str, data: Any) -> Generation:
    """One registry row (a TOML table named after the generation) to a :class:`Generation`."""
    if not re.fullmatch(r"G\d+", name):
        raise ConfigurationError(f"generation registry: row name '{name}' is not G<number>")
    row = _Row(f"generation registry [{name}]", data)
    first = row.tag("first_tag", required=True)
    assert first is not None
    clues = []
    for clue in row.tables("install"):
        clues.append(
            LayoutClue(
                rank=clue.number("rank"),
                pattern=clue.required_text("pattern"),
                evidence=clue.required_text("evidence"),
            )
        )
        clue.check_known()
    backends = []
    for backend in row.tables("backends"):
        since = backend.tag("since", required=True)
        assert since is not None
        backends.append(
            OwnArchBackend(
                name=backend.required_text("name"),
                arch_variable=backend.required_text("arch_variable"),
                switch=backend.required_text("switch"),
                since=since,
            )
        )
        backend.check_known()
    generation = Generation(
        name=name,
        title=row.required_text("title"),
        first_tag=first,
        last_tag=row.tag("last_tag"),
        checked_through=row.tag("checked_through"),
        recipe=row.text("recipe"),
        tree=_tree(row.table("tree")),
        layout_clues=tuple(clues),
        own_arch_backends=tuple(backends),
        stock=_stock(row.tables("stock")),
        driver_rules=_driver_rules(row.tables("driver_rules")),
        cpu_variants=_cpu_variants(row.tables("cpu_variants")),
        **_runtime(row.table("runtime")),
    )
    row.check_known()
    return generation
