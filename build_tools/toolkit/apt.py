"""A private apt configuration for downloading Debian packages without touching the system.

Only ``apt-get update`` and ``apt-get download`` run, with APT_CONFIG pointing at a directory of
our own (sources, lists, cache, status): nothing is installed and the system's apt state is left
alone. The mirror is the Debian mirror the machine is already configured with, read from its apt
sources at run time, so the tool works behind whatever mirror or proxy the machine uses.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_tools.console import reporter
from build_tools.errors import ToolkitError
from build_tools.runner import Runner

__all__ = [
    "MIRROR_ENV",
    "AptSource",
    "PrivateApt",
    "find_debian_mirror",
    "parse_deb822",
    "parse_one_line",
]

MIRROR_ENV = "BUILD_TOOLS_DEBIAN_MIRROR"
DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")

# Suites of the Debian archive proper (not security, not Ubuntu): a source naming one of these
# is a Debian mirror that also serves trixie's non-free component.
_DEBIAN_SUITES = re.compile(
    r"^(buster|bullseye|bookworm|trixie|forky|duke|sid|stable|testing|unstable|oldstable)"
    r"(-updates|-backports|-proposed-updates)?$"
)


@dataclass(frozen=True)
class AptSource:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None


def parse_one_line(text: str) -> list[AptSource]:
    """``sources.list`` format: ``deb [opt=val ...] uri suite component...``."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        options: dict[str, str] = {}
        if "[" in line and "]" in line:
            start, end = line.index("["), line.index("]")
            for item in line[start + 1 : end].split():
                key, _, value = item.partition("=")
                options[key] = value
            line = line[:start] + line[end + 1 :]
        fields = line.split()
        if len(fields) < 3:
            continue
        entries.append(
            AptSource(
                types=(fields[0],),
                uris=(fields[1],),
                suites=(fields[2],),
                components=tuple(fields[3:]),
                signed_by=options.get("signed-by"),
            )
        )
    return entries


def parse_deb822(text: str) -> list[AptSource]:
    """``.sources`` format: stanzas of ``Key: value`` separated by blank lines."""
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in {" ", "\t"} and key:
                fields[key] += "\n" + raw.strip()
            elif ":" in raw:
                key, _, value = raw.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if not fields.get("uris") or fields.get("enabled", "yes").lower() == "no":
            continue
        signed = fields.get("signed-by", "").strip()
        entries.append(
            AptSource(
                types=tuple(fields.get("types", "").split()),
                uris=tuple(fields["uris"].split()),
                suites=tuple(fields.get("suites", "").split()),
                components=tuple(fields.get("components", "").split()),
                # An inline key block starts with "-----BEGIN"; only a path is reusable here.
                signed_by=signed if signed.startswith("/") else None,
            )
        )
    return entries


def _system_sources(apt_etc: Path) -> list[AptSource]:
    entries = []
    main = apt_etc / "sources.list"
    if main.is_file():
        entries += parse_one_line(main.read_text(encoding="utf-8", errors="replace"))
    parts = apt_etc / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                entries += parse_one_line(path.read_text(encoding="utf-8", errors="replace"))
            elif path.suffix == ".sources":
                entries += parse_deb822(path.read_text(encoding="utf-8", errors="replace"))
    return entries


def find_debian_mirror(
    *, apt_etc: Path = Path("/etc/apt"), environ: Mapping[str, str] | None = None
) -> tuple[str, Path | None]:
    """The Debian mirror URI configured on this machine, plus its keyring if it names one."""
    env = os.environ if environ is None else environ
    override = env.get(MIRROR_ENV)
    if override:
        return override.rstrip("/"), None
    for entry in _system_sources(apt_etc):
        if "deb" not in entry.types or "main" not in entry.components:
            continue
        if any(_DEBIAN_SUITES.match(suite) for suite in entry.suites):
            keyring = Path(entry.signed_by) if entry.signed_by else None
            return entry.uris[0].rstrip("/"), keyring
    raise ToolkitError(
        f"no Debian mirror is configured in {apt_etc} (the debian provider reuses it)",
        hint=f"set {MIRROR_ENV} to a Debian mirror URI (the directory holding dists/ and pool/)",
    )


@dataclass(frozen=True)
class PrivateApt:
    """An apt configuration under ``directory`` that only knows one Debian suite."""

    directory: Path
    mirror: str
    keyring: Path
    suite: str = "trixie"

    @property
    def config_file(self) -> Path:
        return self.directory / "apt.conf"

    def env(self) -> dict[str, str | None]:
        return {"APT_CONFIG": str(self.config_file)}

    def write(self) -> None:
        d = self.directory
        for sub in (
            "lists/partial",
            "cache/archives/partial",
            "etc/sources.list.d",
            "etc/preferences.d",
            "state",
        ):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "status").touch()
        (d / "etc" / "sources.list").write_text(
            f"deb [signed-by={self.keyring}] {self.mirror} {self.suite} main contrib non-free\n",
            encoding="utf-8",
        )
        settings = {
            "Dir::Etc::sourcelist": d / "etc" / "sources.list",
            "Dir::Etc::sourceparts": d / "etc" / "sources.list.d",
            "Dir::Etc::preferencesparts": d / "etc" / "preferences.d",
            "Dir::State": d / "state",
            "Dir::State::Lists": d / "lists",
            "Dir::State::status": d / "status",
            "Dir::Cache": d / "cache",
            # As root apt hands downloads to the '_apt' user, which cannot write into a user's
            # cache; downloading as the invoking user avoids the "unsandboxed" warning.
            "APT::Sandbox::User": getpass.getuser(),
            "Acquire::Languages": "none",
        }
        lines = [f'{key} "{value}";' for key, value in settings.items()]
        lines.append('APT::Architectures { "amd64"; };')
        self.config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def download(self, packages: Sequence[str], dest: Path, runner: Runner) -> None:
        """``apt-get download name=version ...`` into ``dest`` (after refreshing the lists)."""
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise ToolkitError(
                    f"the debian provider needs '{tool}', which is not on PATH",
                    hint="run on a Debian/Ubuntu host, or use --toolkit-provider system",
                )
        self.write()
        with reporter.step(f"refresh package lists for Debian {self.suite} (private apt config)"):
            runner.run(
                ["apt-get", "update"],
                env=self.env(),
                what="apt-get update",
                hint=f"the Debian mirror {self.mirror} must be reachable",
            )
        dest.mkdir(parents=True, exist_ok=True)
        runner.run(
            ["apt-get", "download", *packages],
            cwd=dest,
            env=self.env(),
            on_line=_show_apt_line,
            what="apt-get download",
            hint=f"the Debian mirror {self.mirror} must carry {self.suite} non-free",
        )


def _show_apt_line(line: str) -> None:
    if line.startswith(("Get:", "Fetched")):
        reporter.info(f"  {line.strip()}")
