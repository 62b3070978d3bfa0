"""Parsers at the edge of `deploy`: GPU selectors, group and model names, paths, ports, and
the rendered files `deploy verify` reads back (units, deploy.json).

Property tests: every text the grammar accepts renders back to itself, anything else is refused
with a ValueError (never another exception), and what a selector selects is exactly the GPUs
each of its parts matches.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from build_tools.deploy.manifest import read_deployment
from build_tools.deploy.unitfile import read_unit
from build_tools.errors import ConfigurationError, UnreadableArtifactError
from build_tools.gpus.inventory import Gpu
from build_tools.gpus.selection import (
    GROUP_NAME,
    UUID,
    parse_group_name,
    parse_group_spec,
    parse_selector,
    select_gpus,
)
from build_tools.settings.deploy import (
    MODEL_NAME,
    listen_address,
    model_name,
    model_route,
    port,
    unit_path,
)

from boxes import SEED_BOX, inventory

PROPERTIES = settings(
    max_examples=100, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

group_names = st.from_regex(GROUP_NAME, fullmatch=True)
ccs = st.builds(lambda a, b: f"{a}.{b}", st.integers(1, 19), st.integers(0, 9))
indexes = st.integers(0, 9999).map(str)
uuids = st.from_regex(UUID, fullmatch=True)
globs = st.from_regex(r"[A-Za-z0-9 *?._()/-]{1,20}", fullmatch=True)


def _listed(kind: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    unique = st.lists(values, min_size=1, max_size=4, unique=True)
    return unique.map(lambda v: ",".join(v) if kind == "uuid" else f"{kind}:" + ",".join(v))


parts = st.one_of(
    _listed("cc", ccs),
    _listed("index", indexes),
    _listed("uuid", uuids),
    globs.map("name:{}".format),
)
selectors = st.lists(parts, min_size=1, max_size=3, unique=True).map("+".join)


@PROPERTIES
@given(group_names, selectors)
def test_every_accepted_group_spec_renders_back_to_itself(name: str, selector: str) -> None:
    spec = parse_group_spec(f"{name}={selector}")
    assert spec.name == name
    assert spec.text == f"{name}={selector}"
    assert parse_selector(spec.selector.text) == spec.selector


@PROPERTIES
@given(st.text(max_size=60))
def test_any_text_is_a_spec_or_a_value_error(text: str) -> None:
    try:
        spec = parse_group_spec(text)
    except ValueError:
        return
    # What was accepted is clean: no blanks around, nothing a unit file or shell would read.
    assert GROUP_NAME.match(spec.name)
    assert spec.text == text


@PROPERTIES
@given(selectors)
def test_a_selector_selects_exactly_what_its_parts_match(selector: str) -> None:
    gpus = inventory(SEED_BOX).gpus
    spec = parse_group_spec(f"g={selector}")
    parts = spec.selector.parts
    if not all(any(p.matches(g) for g in gpus) for p in parts):
        with pytest.raises(ConfigurationError, match="matches no GPU"):
            select_gpus(spec, gpus)
        return
    chosen = select_gpus(spec, gpus)
    assert chosen == tuple(g for g in gpus if any(p.matches(g) for p in parts))


def test_each_selector_kind_selects_what_it_says() -> None:
    gpus = inventory(SEED_BOX).gpus

    def chosen(selector: str) -> list[int]:
        return [g.index for g in select_gpus(parse_group_spec(f"g={selector}"), gpus)]

    assert chosen("cc:8.6") == [0, 1, 2]
    assert chosen("cc:5.0,8.6") == list(range(7))
    assert chosen("index:6,0") == [0, 6]
    assert chosen("name:*m10*") == [3, 4, 5, 6]  # globs ignore case
    assert chosen("name:NVIDIA GeForce RTX ????") == [0, 1, 2]
    assert chosen(gpus[4].uuid.upper()) == [4]  # UUIDs ignore case
    assert chosen(f"{gpus[1].uuid}+cc:5.0") == [1, 3, 4, 5, 6]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "big",
        "=cc:8.6",
        "Big=cc:8.6",
        "big=",
        "big=cc:",
        "big=cc:8.6,8.6",
        "big=cc:8",
        "big=index:01",
        "big=index:-1",
        "big=name:a,b",
        "big=name:$(reboot)",
        "big=GPU-123",
        "big=cc:8.6+cc:8.6",
        "big=uuid:GPU-5a1c2f3e-1111-2222-3333-444455556666",
        "b g=cc:8.6",
        "-big=cc:8.6",
    ],
)
def test_malformed_group_specs_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_group_spec(text)


def test_group_names_name_units_services_and_backends() -> None:
    assert parse_group_name("86") == "86"
    assert parse_group_name("m10_embed-2") == "m10_embed-2"
    for bad in ("", "A", "_x", "x.y", "x" * 33, "x/y"):
        with pytest.raises(ValueError, match="is not a group name"):
            parse_group_name(bad)


model_names = st.from_regex(MODEL_NAME, fullmatch=True)


@PROPERTIES
@given(model_names)
def test_model_names_normalise_like_the_router(name: str) -> None:
    routed = model_name(name)
    assert routed == routed.lower()
    assert not routed.endswith(":latest")
    assert model_name(routed) == routed  # idempotent
    assert MODEL_NAME.match(routed)
    # Nothing a HAProxy map, YAML or an env file would read differently.
    assert not re.search(r"[\s\"'#=%$\\]", routed)


@PROPERTIES
@given(st.text(max_size=40))
def test_any_text_is_a_model_name_or_a_value_error(text: str) -> None:
    try:
        routed = model_name(text)
    except ValueError:
        return
    assert routed == text.lower().removesuffix(":latest")


def test_model_routes() -> None:
    route = model_route("Llama3.1:Latest=86")
    assert (route.model, route.group) == ("llama3.1", "86")
    assert model_route("hf.co/user/repo:Q4_K_M=small").model == "hf.co/user/repo:q4_k_m"
    for bad in ("llama3", "llama 3=86", "=86", "x=", "x:a:b=86", "x=Big"):
        with pytest.raises(ValueError, match=r"\S"):
            model_route(bad)


@PROPERTIES
@given(st.text(max_size=40))
def test_paths_written_unquoted_are_plain(text: str) -> None:
    try:
        path = unit_path(text)
    except ValueError:
        return
    assert path.startswith(("/", "%h/")) or path == "%h"
    assert not re.search(r"[\s\"'$\\;]", path)
    assert "%" not in path.removeprefix("%h")
    assert "/../" not in f"{path}/"


def test_paths_and_addresses() -> None:
    assert unit_path("/opt/ollama-bt/") == "/opt/ollama-bt"
    assert unit_path("%h/.ollama/models") == "%h/.ollama/models"
    for bad in ("opt/x", "/opt/a b", "/opt/$x", "/opt/%n", "/opt/../etc", "~/x"):
        with pytest.raises(ValueError, match="expected an absolute path"):
            unit_path(bad)
    assert listen_address("0.0.0.0") == "0.0.0.0"  # noqa: S104 - a parser test
    assert listen_address("::1") == "::1"
    with pytest.raises(ValueError, match="expected an IP address"):
        listen_address("localhost")
    assert port("11434") == 11434
    for bad in ("80", "65536", "x", ""):
        with pytest.raises(ValueError, match="expected a TCP port"):
            port(bad)


def test_uuid_selectors_match_regardless_of_case() -> None:
    gpu = Gpu(
        index=0, uuid="GPU-5a1c2f3e-1111-2222-3333-444455556666", name="x", cc_major=8, cc_minor=6
    )
    spec = parse_group_spec("g=GPU-5A1C2F3E-1111-2222-3333-444455556666")
    assert select_gpus(spec, [gpu]) == (gpu,)


# --- files read back by deploy verify ---------------------------------------------------------
unit_lines = st.lists(
    st.one_of(
        st.sampled_from(["[Unit]", "[Service]", "[Install]", "", "# comment"]),
        st.builds(
            "{}={}".format,
            st.sampled_from(["ExecStart", "Environment", "User", "Restart"]),
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=30),
        ),
    ),
    max_size=12,
)


@pytest.fixture(scope="module")
def unit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unit") / "x.service"  # each example rewrites it


@PROPERTIES
@given(unit_lines)
def test_any_unit_text_is_read_or_refused_with_exit_8(unit_file: Path, lines: list[str]) -> None:
    path = unit_file
    path.write_text("\n".join(lines) + "\n")
    try:
        unit = read_unit(path, home=Path("/home/u"))
    except UnreadableArtifactError:
        return
    assert unit.argv
    for value in (*unit.argv, *unit.environment.values()):
        assert not re.search(r"[\s\"'\\$;%]", value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [prefix] + [p for k, v in data.items() for p in _paths(v, (*prefix, k))]
    if isinstance(data, list):
        return [prefix] + [p for n, v in enumerate(data) for p in _paths(v, (*prefix, n))]
    return [prefix]


@pytest.fixture(scope="module")
def rendered_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from build_tools.__main__ import main

    from boxes import write_json_inventory

    root = tmp_path_factory.mktemp("manifest")
    seed = write_json_inventory(root / "seed.json", SEED_BOX)
    argv = ["-q", "deploy", "render", "--inventory", str(seed), "--output", str(root / "d"),
            "--host-root", str(root), "--model", "a=86"]  # fmt: skip
    assert main(argv) == 0
    data: dict[str, Any] = json.loads((root / "d" / "deploy.json").read_text())
    data["directory"] = str(root / "d")  # each example rewrites its deploy.json
    return data


@PROPERTIES
@given(st.data())
def test_a_tampered_manifest_is_read_or_refused_never_misread(
    rendered_manifest: dict[str, Any], data: st.DataObject
) -> None:
    scratch = Path(rendered_manifest["directory"])
    manifest = copy.deepcopy({k: v for k, v in rendered_manifest.items() if k != "directory"})
    path = data.draw(st.sampled_from(_paths(manifest)[1:]))
    value = data.draw(json_values)
    target = manifest
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (scratch / "deploy.json").write_text(json.dumps(manifest))
    try:
        deployment = read_deployment(scratch)
    except (UnreadableArtifactError, ConfigurationError):
        return
    # Whatever was accepted is well-formed.
    for group in deployment.groups:
        assert GROUP_NAME.match(group.name)
        assert all(UUID.match(g.uuid) for g in group.gpus)
        assert all(MODEL_NAME.match(m) for m in group.models)
        assert 1 <= group.port <= 65535
