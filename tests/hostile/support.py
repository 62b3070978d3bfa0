"""Helpers of the hostile-input suite: run the CLI, judge its answer, craft hostile files.

Black-box on purpose: every case goes in as argv (plus files, environment and PATH) and comes
out as an exit code, stdout and stderr, so that the cases survive any reorganisation of the
modules behind the CLI.

The contract every case checks (issue 14): either a result, or one line on stderr starting with
``error:`` that says what is wrong, with the exit code the README documents; never a traceback,
never a hang past the probe timeout, nothing left behind.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import tarfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from boxes import SEED_BOX, inventory, smi_csv

__all__ = [
    "CASE_TIMEOUT",
    "PROBE_TIMEOUT",
    "Outcome",
    "assert_clean_error",
    "assert_ok",
    "assert_usage_error",
    "elf_file",
    "fatbin_section",
    "good_csv",
    "good_json",
    "run_cli",
    "run_main",
    "snapshot",
    "tar_bytes",
    "write_program",
]

# The suite asks the tool to give up on a silent external program (nvidia-smi, nvcc, git
# probes) after this many seconds, through the environment variable BUILD_TOOLS_PROBE_TIMEOUT
# (the contract issue 14's fix provides; its default may be longer). A case in a child process
# fails as a hang when the tool has not answered CASE_TIMEOUT seconds after it started (child
# processes run several at once, so this leaves room for a loaded machine).
PROBE_TIMEOUT = 2
CASE_TIMEOUT = 20.0
# Address-space limit of child processes in the unbounded-resource cases: the tool (Python,
# rich, pyelftools) runs in well under 1 GiB; a 20 GB allocation fails at once instead of
# swapping the machine.
MEMORY_LIMIT = 2**30

ERROR_PREFIX = "error:"
ENV_PREFIXES = ("OLLAMA_", "CUDA", "BUILD_TOOLS_", "GITHUB_", "NVIDIA_")
ENV_NAMES = ("SOURCE_DATE_EPOCH", "CI", "COLUMNS", "LINES", "TERM", "FORCE_COLOR", "NO_COLOR")


@dataclass
class Outcome:
    """What a user sees: exit code, stdout, stderr; and how long it took."""

    code: int
    out: str
    err: str
    seconds: float = 0.0
    timed_out: bool = False

    def describe(self) -> str:
        tail = self.err[-1500:] if len(self.err) > 1500 else self.err
        state = "TIMED OUT (hang)" if self.timed_out else f"exit {self.code}"
        return f"{state} after {self.seconds:.1f}s; stderr:\n{tail}\nstdout:\n{self.out[-500:]}"


def run_main(
    argv: Sequence[str], capsys: pytest.CaptureFixture[str], *, stdin: bytes | None = None
) -> Outcome:
    """Run the CLI in this process, as ``python -m build_tools ARGV`` would.

    An exception escaping ``main`` is what a user would see as a traceback and exit status 1:
    it is turned into exactly that, so the judging functions treat both paths the same way.
    """
    from build_tools.__main__ import main

    capsys.readouterr()  # drop anything printed before
    saved_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    start = time.monotonic()
    extra = ""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse: usage errors, --help, --version
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except Exception:
        extra = traceback.format_exc()
        code = 1
    finally:
        sys.stdin = saved_stdin
    seconds = time.monotonic() - start
    captured = capsys.readouterr()
    return Outcome(code=int(code), out=captured.out, err=captured.err + extra, seconds=seconds)


def child_env(base: Mapping[str, str] | None = None, **changes: str | None) -> dict[str, str]:
    """The environment of a child process: this one's (already cleaned by the fixtures), plus
    ``changes`` (None removes a variable)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("BUILD_TOOLS_PROBE_TIMEOUT", str(PROBE_TIMEOUT))
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def start_cli(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
    limit_memory: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``python -m build_tools ARGV`` in its own process group (so a hang can be killed
    with everything it started)."""
    return subprocess.Popen(
        [sys.executable, "-m", "build_tools", *argv],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(env),
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_limit_memory if limit_memory else None,  # noqa: PLW1509
    )


def finish(
    proc: subprocess.Popen[bytes],
    start: float,
    timeout: float = CASE_TIMEOUT,
    input_bytes: bytes | None = None,
) -> Outcome:
    """Wait for ``proc``; on a hang kill its whole process group and report the hang."""
    timed_out = False
    try:
        left = max(0.1, timeout - (time.monotonic() - start))
        out, err = proc.communicate(input=input_bytes, timeout=left)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid)
        out, err = proc.communicate()
    return Outcome(
        code=proc.returncode,
        out=out.decode("utf-8", "replace"),
        err=err.decode("utf-8", "replace"),
        seconds=time.monotonic() - start,
        timed_out=timed_out,
    )


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_cli(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = CASE_TIMEOUT,
    input_bytes: bytes | None = None,
    limit_memory: bool = False,
) -> Outcome:
    """Run the CLI in a child process with a timeout (for cases that may hang or blow up)."""
    start = time.monotonic()
    proc = start_cli(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
        limit_memory=limit_memory,
    )
    return finish(proc, start, timeout, input_bytes)


# --- judging ---------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _no_crash(outcome: Outcome) -> None:
    assert not outcome.timed_out, f"hang: no answer within the case timeout; {outcome.describe()}"
    assert "Traceback (most recent call last)" not in outcome.err, (
        f"traceback instead of a one-line error; {outcome.describe()}"
    )
    assert outcome.code >= 0, f"killed by signal {-outcome.code}; {outcome.describe()}"


def assert_clean_error(
    outcome: Outcome,
    code: int,
    *,
    contains: Iterable[str] = (),
    not_contains: Iterable[str] = (),
) -> str:
    """The documented exit code and ONE line ``error: ...`` (the last thing on stderr), no
    traceback, nothing on stdout. Returns the error line."""
    _no_crash(outcome)
    assert outcome.code == code, f"expected exit {code}; got {outcome.describe()}"
    errors = [line for line in _lines(outcome.err) if line.lstrip().startswith(ERROR_PREFIX)]
    assert len(errors) == 1, f"expected exactly one 'error:' line; {outcome.describe()}"
    last = _lines(outcome.err)[-1]
    assert last == errors[0], f"the error line must be the last line; {outcome.describe()}"
    assert len(errors[0].strip()) > len(ERROR_PREFIX) + 10, f"empty error; {outcome.describe()}"
    assert outcome.out.strip() == "", f"partial output on stdout; {outcome.describe()}"
    line = errors[0]
    for text in contains:
        assert text.lower() in line.lower(), f"error line should mention {text!r}: {line}"
    for text in not_contains:
        assert text.lower() not in line.lower(), f"error line should not say {text!r}: {line}"
    return line


def assert_usage_error(
    outcome: Outcome, *, contains: Iterable[str] = (), not_contains: Iterable[str] = ()
) -> str:
    """An argparse-level usage error: exit 2, argparse's usage block allowed, then one line
    ``PROG: error: ...`` (or ``error: ...``) as the last line; no traceback."""
    _no_crash(outcome)
    assert outcome.code == 2, f"expected exit 2; got {outcome.describe()}"
    errors = [line for line in _lines(outcome.err) if "error:" in line]
    assert len(errors) == 1, f"expected exactly one error line; {outcome.describe()}"
    assert _lines(outcome.err)[-1] == errors[0], f"error must be last; {outcome.describe()}"
    assert outcome.out.strip() == "", f"output on stdout; {outcome.describe()}"
    line = errors[0]
    for text in contains:
        assert text.lower() in line.lower(), f"error line should mention {text!r}: {line}"
    for text in not_contains:
        assert text.lower() not in line.lower(), f"error line should not say {text!r}: {line}"
    return line


def assert_error_code(outcome: Outcome, code: int, **kwargs: Iterable[str]) -> str:
    """Exit 2 may come from argparse (usage block allowed); every other code from the tool."""
    if code == 2 and "usage:" in outcome.err:
        return assert_usage_error(outcome, **kwargs)
    return assert_clean_error(outcome, code, **kwargs)


def assert_ok(outcome: Outcome, *, json_out: bool = False) -> None:
    _no_crash(outcome)
    assert outcome.code == 0, f"expected success; got {outcome.describe()}"
    assert not any(line.lstrip().startswith(ERROR_PREFIX) for line in _lines(outcome.err)), (
        f"success with an error line; {outcome.describe()}"
    )
    if json_out:
        json.loads(outcome.out)


def assert_outcome(outcome: Outcome, code: int, **kwargs: Iterable[str]) -> None:
    if code == 0:
        assert_ok(outcome)
    else:
        assert_error_code(outcome, code, **kwargs)


def assert_one_of(outcome: Outcome, codes: Sequence[int]) -> None:
    """Where two answers are right (a result, or a refusal), either one, cleanly."""
    _no_crash(outcome)
    assert outcome.code in codes, f"expected exit in {list(codes)}; got {outcome.describe()}"
    assert_outcome(outcome, outcome.code)


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (relative), to prove that nothing was left behind."""
    if not root.exists():
        return set()
    paths = {p.relative_to(root).as_posix() for p in root.rglob("*")}
    return {p for p in paths if not p.endswith(".calls")}  # the fakes' own call logs


# --- hostile files ---------------------------------------------------------------------------


def good_json(box: list[tuple[str, str, int]] | None = None) -> dict[str, object]:
    return inventory(box or SEED_BOX[:1]).to_json()


def good_csv(box: list[tuple[str, str, int]] | None = None, *, header: bool = True) -> str:
    return smi_csv(box or SEED_BOX[:1], header=header)


def write_program(path: Path, body: str, *, mode: int = 0o755) -> Path:
    """An executable Python script (the interpreter of this test run) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(mode)
    return path


def tar_bytes(
    members: Sequence[tuple[tarfile.TarInfo, bytes | None]],
    *,
    fmt: Literal[0, 1, 2] = tarfile.GNU_FORMAT,
) -> bytes:
    """A tar stream written member by member; ``None`` data writes only the header (a member
    whose declared size has no data behind it)."""
    buffer = io.BytesIO()
    for info, data in members:
        buffer.write(info.tobuf(format=fmt, encoding="utf-8", errors="surrogateescape"))
        if data is not None:
            buffer.write(data)
            buffer.write(b"\0" * (-len(data) % 512))
    buffer.write(b"\0" * 1024)
    return buffer.getvalue()


def tar_member(name: str, data: bytes = b"", *, size: int | None = None, kind: bytes = tarfile.REGTYPE,
               linkname: str = "") -> tuple[tarfile.TarInfo, bytes | None]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if size is None:
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        return info, data if kind == tarfile.REGTYPE else None
    info.size = size
    return info, data or None


def sparse_member(name: str, realsize: int) -> bytes:
    """The 512-byte header of an old-GNU sparse member ('S') of ``realsize`` bytes that stores
    no data at all: a reader that materialises the holes allocates ``realsize`` bytes."""

    def octal(value: int, width: int) -> bytes:
        return b"%0*o" % (width - 1, value) + b"\0"

    def base256(value: int, width: int) -> bytes:
        return bytes([0x80]) + value.to_bytes(width - 1, "big")

    header = bytearray(512)
    header[0 : len(name)] = name.encode()
    header[100:108] = octal(0o644, 8)
    header[108:116] = octal(0, 8)
    header[116:124] = octal(0, 8)
    header[124:136] = octal(0, 12)  # stored size: nothing
    header[136:148] = octal(0, 12)
    header[156:157] = b"S"
    header[257:265] = b"ustar  \0"
    header[386:398] = base256(realsize - 1, 12)  # one sparse block of 0 bytes at the end
    header[398:410] = octal(0, 12)
    header[483:495] = base256(realsize, 12)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# ELF64 little-endian: just enough structure for readelf and pyelftools.
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
SHT_PROGBITS, SHT_STRTAB = 1, 3


def elf_file(
    sections: Mapping[str, bytes] | None = None,
    *,
    e_shoff: int | None = None,
    e_shnum: int | None = None,
    e_shstrndx: int | None = None,
    e_shentsize: int = _SHDR.size,
    section_offsets: Mapping[str, int] | None = None,
    section_sizes: Mapping[str, int] | None = None,
    name_offsets: Mapping[str, int] | None = None,
    elf_class: int = 2,
    truncate: int | None = None,
) -> bytes:
    """A minimal ELF64 shared object with the given sections (``.shstrtab`` added).

    The keyword arguments corrupt one field each: the section-header table offset, count,
    string-table index, entry size; a section's offset, size or name offset."""
    sections = dict(sections or {})
    names = ["", *sections, ".shstrtab"]
    shstrtab = b"\0"
    name_at: dict[str, int] = {"": 0}
    for name in names[1:]:
        name_at[name] = len(shstrtab)
        shstrtab += name.encode() + b"\0"
    sections[".shstrtab"] = shstrtab
    body = b""
    offset = _EHDR.size
    placed: dict[str, tuple[int, int]] = {}
    for name in names[1:]:
        pad = -offset % 8
        body += b"\0" * pad
        offset += pad
        placed[name] = (offset, len(sections[name]))
        body += sections[name]
        offset += len(sections[name])
    offset += -offset % 8
    body += b"\0" * (-len(body) % 8)
    shoff = offset
    headers = b"\0" * _SHDR.size
    for name in names[1:]:
        sh_offset, sh_size = placed[name]
        sh_offset = (section_offsets or {}).get(name, sh_offset)
        sh_size = (section_sizes or {}).get(name, sh_size)
        kind = SHT_STRTAB if name == ".shstrtab" else SHT_PROGBITS
        name_offset = (name_offsets or {}).get(name, name_at[name])
        headers += _SHDR.pack(name_offset, kind, 0, 0, sh_offset, sh_size, 0, 0, 8, 0)
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + b"\0" * 8
    ehdr = _EHDR.pack(
        ident,
        3,  # ET_DYN
        62,  # x86-64
        1,
        0,
        0,
        shoff if e_shoff is None else e_shoff,
        0,
        _EHDR.size,
        0,
        0,
        e_shentsize,
        len(names) if e_shnum is None else e_shnum,
        len(names) - 1 if e_shstrndx is None else e_shstrndx,
    )
    data = ehdr + body + headers
    return data if truncate is None else data[:truncate]


FATBIN_MAGIC = 0xBA55ED50


def fatbin_entry(*, kind: int = 2, arch: int = 86, payload: bytes = b"\0" * 16,
                 header_size: int = 0x40, payload_size: int | None = None,
                 flags: int = 0) -> bytes:  # fmt: skip
    size = len(payload) if payload_size is None else payload_size
    header = struct.pack(
        "<HHIQIIHHIIIQQQ", kind, 0x101, header_size, size, 0, 0, 0, 8, arch, 0, 0, flags, 0, 0
    )
    return header + b"\0" * (header_size - len(header)) + payload


def fatbin_section(entries: Sequence[bytes] = (), *, declared: int | None = None,
                   header_size: int = 16) -> bytes:  # fmt: skip
    body = b"".join(entries)
    size = len(body) if declared is None else declared
    return struct.pack("<IHHQ", FATBIN_MAGIC, 1, header_size, size) + body


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
