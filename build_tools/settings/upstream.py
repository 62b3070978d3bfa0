"""Settings of ``upstream check``: which repository to ask for new Ollama release tags."""

from __future__ import annotations

from dataclasses import dataclass

from build_tools.settings import parse
from build_tools.settings.declare import group, option
from build_tools.settings.groups import DEFAULT_SOURCE, WorkdirSettings

__all__ = ["DEFAULT_FETCH_TIMEOUT", "UpstreamCheckSettings"]

# A shallow fetch of a few tags from GitHub takes seconds; a stalled one is stopped after this.
DEFAULT_FETCH_TIMEOUT = 600.0


@dataclass(frozen=True, kw_only=True)
class UpstreamCheckSettings:
    source: str = option(
        DEFAULT_SOURCE,
        "--source",
        metavar="URL|PATH",
        parse=parse.source_location,
        help=f"git URL or local clone (bare or not) to read the tags of (default: "
        f"{DEFAULT_SOURCE})",
    )
    since: str | None = option(
        None,
        "--since",
        metavar="TAG",
        parse=parse.release_tag,
        help="report every release tag after TAG (default: the newest tag the generation "
        "registry knows)",
    )
    timeout: float = option(
        DEFAULT_FETCH_TIMEOUT,
        "--timeout",
        metavar="SECONDS",
        parse=parse.seconds,
        help="limit for each git command that reads a URL source (default: "
        f"{DEFAULT_FETCH_TIMEOUT:g}); local reads use the probe timeout",
    )
    workdir: WorkdirSettings = group("source", WorkdirSettings)
