from __future__ import annotations

import pytest

from build_tools.errors import ConfigurationError
from build_tools.planning.archs import (
    ArchKeyword,
    CudaArch,
    parse_arch_list,
    parse_arch_token,
    render_cmake,
    render_make,
)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("86", CudaArch(86)),
        ("8.6", CudaArch(86)),
        ("sm_86", CudaArch(86, ptx=False)),
        ("compute_86", CudaArch(86, sass=False)),
        ("86-real", CudaArch(86, ptx=False)),
        ("86-virtual", CudaArch(86, sass=False)),
        ("90a", CudaArch(90, "a")),
        ("sm_90a", CudaArch(90, "a", ptx=False)),
        ("90a-real", CudaArch(90, "a", ptx=False)),
        ("100f", CudaArch(100, "f")),
        ("12.0", CudaArch(120)),
        ("121", CudaArch(121)),
        (" 75 ", CudaArch(75)),
        ("SM_75", CudaArch(75, ptx=False)),
        ("native", ArchKeyword.NATIVE),
        ("all", ArchKeyword.ALL),
        ("all-major", ArchKeyword.ALL_MAJOR),
    ],
)
def test_parse_accepts_every_documented_form(token: str, expected: object) -> None:
    assert parse_arch_token(token) == expected


@pytest.mark.parametrize(
    "token", ["5O", "sm_", "86-fake", "1.2.3", "8", "compute_86-real", "sm_86-virtual", "90b", ""]
)
def test_parse_rejects_with_one_line_naming_token_and_forms(token: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_arch_token(token)
    text = str(caught.value)
    assert f"'{token.strip()}'" in text
    assert "sm_86" in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("archs", "cmake", "make"),
    [
        ([CudaArch(86)], "86", "86"),
        ([CudaArch(61, ptx=False), CudaArch(86)], "61-real;86", "61;86"),
        ([CudaArch(75, sass=False), CudaArch(90, "a", ptx=False)], "75-virtual;90a-real", "75;90a"),
    ],
)
def test_render_cmake_and_make(archs: list[CudaArch], cmake: str, make: str) -> None:
    assert render_cmake(archs) == cmake
    assert render_make(archs) == make


def test_cmake_rendering_round_trips_through_the_parser() -> None:
    archs = [CudaArch(50, sass=False), CudaArch(86, ptx=False), CudaArch(90, "a"), CudaArch(120)]
    assert parse_arch_list([render_cmake(archs)]) == archs


def test_lists_split_on_comma_semicolon_and_repeats() -> None:
    assert parse_arch_list(["61,75;86", "90"]) == [
        CudaArch(61),
        CudaArch(75),
        CudaArch(86),
        CudaArch(90),
    ]


def test_arch_without_any_code_is_impossible() -> None:
    with pytest.raises(ValueError, match="SASS, PTX or both"):
        CudaArch(86, sass=False, ptx=False)
