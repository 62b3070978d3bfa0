"""Compiler cache statistics and sccache's remote-storage environment, parsed at the edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from build_tools.compiler_cache import (
    CacheTool,
    parse_ccache_stats,
    parse_sccache_stats,
    remote_backend,
)
from build_tools.errors import ConfigurationError

CCACHE_SAMPLE = (
    "autoconf_test\t0\ncache_miss\t3\ndirect_cache_hit\t5\ndirect_cache_miss\t3\n"
    "preprocessed_cache_hit\t2\nstats_updated_timestamp\t1764600000\n"
)


def sccache_json(hits: dict[str, int], misses: dict[str, int]) -> str:
    return json.dumps(
        {
            "stats": {
                "compile_requests": 9,
                "cache_hits": {"counts": hits, "adv_counts": {}},
                "cache_misses": {"counts": misses, "adv_counts": {}},
            },
            "version": "0.16.0",
        }
    )


def test_ccache_hits_are_direct_plus_preprocessed() -> None:
    stats = parse_ccache_stats(CCACHE_SAMPLE)
    assert (stats.hits, stats.misses) == (7, 3)
    assert stats.to_json() == {"hits": 7, "misses": 3, "hit_rate": 0.7}


@pytest.mark.parametrize(
    "text",
    [
        "",  # no counters at all
        "cache_miss\t3\n",  # hits missing
        CCACHE_SAMPLE + "Cacheable calls: 10 / 10\n",  # the human format of `ccache -s`
        CCACHE_SAMPLE.replace("\t3", " 3"),
        CCACHE_SAMPLE.replace("\t5", "\t-5"),
    ],
)
def test_an_unknown_ccache_format_is_refused_not_guessed(text: str) -> None:
    with pytest.raises(ValueError, match="ccache statistics"):
        parse_ccache_stats(text)


def test_sccache_counts_are_summed_over_languages() -> None:
    stats = parse_sccache_stats(sccache_json({"C/C++": 4, "CUDA": 6}, {"CUDA": 2}))
    assert (stats.hits, stats.misses) == (10, 2)
    after = parse_sccache_stats(sccache_json({"C/C++": 9, "CUDA": 6}, {"CUDA": 3}))
    assert after.minus(stats).to_json() == {"hits": 5, "misses": 1, "hit_rate": 0.8333}


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"stats": {}}',
        '{"stats": {"cache_hits": {"counts": {"C": "4"}}, "cache_misses": {"counts": {}}}}',
        '{"stats": {"cache_hits": {"counts": {"C": true}}, "cache_misses": {"counts": {}}}}',
        '{"stats": {"cache_hits": {"counts": {"C": -1}}, "cache_misses": {"counts": {}}}}',
    ],
)
def test_malformed_sccache_statistics_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="sccache statistics"):
        parse_sccache_stats(text)


@given(st.text(max_size=300))
def test_ccache_parser_answers_or_refuses_any_text(text: str) -> None:
    try:
        stats = parse_ccache_stats(text)
    except ValueError:
        return
    assert min(stats.hits, stats.misses) >= 0


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=3)))  # fmt: skip
def test_sccache_parser_answers_or_refuses_any_json(value: object) -> None:
    try:
        stats = parse_sccache_stats(json.dumps(value))
    except ValueError:
        return
    assert min(stats.hits, stats.misses) >= 0


def test_no_sccache_variables_mean_the_local_disk() -> None:
    assert remote_backend({"SCCACHE_DIR": "/tmp/x", "PATH": "/bin"}) is None


def test_a_backend_is_described_without_its_secrets() -> None:
    secret = "hunter2-very-secret"  # noqa: S105 - a value that must never be shown
    backend = remote_backend(
        {
            "SCCACHE_WEBDAV_ENDPOINT": "https://cache.example.org/ollama",
            "SCCACHE_WEBDAV_PASSWORD": secret,
            "SCCACHE_WEBDAV_USERNAME": "ci",
            "SCCACHE_WEBDAV_KEY_PREFIX": "g4",
        }
    )
    assert backend is not None
    assert backend.kind == "webdav"
    text = backend.describe() + json.dumps(backend.to_json())
    assert secret not in text
    assert "SCCACHE_WEBDAV_PASSWORD=<set>" in backend.describe()
    assert "SCCACHE_WEBDAV_KEY_PREFIX=g4" in backend.describe()


def test_the_github_actions_cache_and_redis_are_recognised() -> None:
    gha = remote_backend({"SCCACHE_GHA_ENABLED": "true"})
    assert gha is not None
    assert gha.kind == "gha"
    redis = remote_backend({"SCCACHE_REDIS_ENDPOINT": "redis://cache:6379"})
    assert redis is not None
    assert redis.kind == "redis"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SCCACHE_GHA_ENABLED": "maybe"}, "SCCACHE_GHA_ENABLED"),
        ({"SCCACHE_BUCKET": "b", "SCCACHE_S3_USE_SSL": "true\nX=1"}, "SCCACHE_S3_USE_SSL"),
        ({"SCCACHE_REDIS_ENDPOINT": "redis://a b"}, "SCCACHE_REDIS_ENDPOINT"),
        ({"SCCACHE_GCS_BUCKET": "b", "SCCACHE_GCS_RW_MODE": "WRITE"}, "SCCACHE_GCS_RW_MODE"),
        ({"SCCACHE_BUCKET": "b", "SCCACHE_GHA_ENABLED": "true"}, "more than one"),
    ],
)
def test_bad_storage_settings_are_refused_by_name(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        remote_backend(environ)
    assert named in str(caught.value)


def test_a_bad_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        remote_backend(
            {"SCCACHE_WEBDAV_ENDPOINT": "https://x", "SCCACHE_WEBDAV_TOKEN": "s3cr3t\nline"}
        )
    assert "SCCACHE_WEBDAV_TOKEN" in str(caught.value)
    assert "s3cr3t" not in str(caught.value) + str(caught.value.hint)


def test_the_cache_keys_paths_relative_to_the_work_directory(tmp_path: Path) -> None:
    ccache = CacheTool(kind="ccache", path=tmp_path / "ccache").environment(tmp_path / "w")
    assert ccache == {
        "CCACHE_BASEDIR": str(tmp_path / "w"),
        "CCACHE_NOHASHDIR": "1",
        "CCACHE_COMPILERCHECK": "content",
    }
    sccache = CacheTool(kind="sccache", path=tmp_path / "sccache").environment(Path("/w"))
    assert sccache == {"SCCACHE_BASEDIRS": "/w", "SCCACHE_SERVER_UDS": "/w/sccache.sock"}
