"""What a G5 tree's ``llama/server/CMakeLists.txt`` says the CPU build ships.

Its install rules are ``OPTIONAL``: a program or library the build did not make is left out
without a word. The recipe builds only what ships (not the nested build's ``all``), so it reads
the programs from the tree, and ``upstream check`` compares the libraries with those the
registry knows the programs link (``server_linked_libraries``).

Both readers are linear in the file's length whatever it holds: one pass of a pattern that
anchors at word starts and never crosses a parenthesis.
"""

from __future__ import annotations

import re

__all__ = ["server_libraries_of", "server_programs_of"]

# install(TARGETS llama-server llama-quantize\n RUNTIME DESTINATION ${_base_dest} COMPONENT ...):
# target names only (a ${variable} list, as for the libraries, does not match).
_SERVER_PROGRAMS = re.compile(
    r"install\(\s*TARGETS\s+((?:[A-Za-z0-9_.+-]+\s+)+?)RUNTIME\s+DESTINATION\s+\$\{_base_dest\}\s"
)
# A CMake command whose arguments hold no parenthesis: name and arguments.
_CALL = re.compile(r"\b([A-Za-z_]\w*)[ \t]*\(([^()]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)\}")
_TARGET_NAME = re.compile(r"[A-Za-z0-9_.+-]+")
_BASE_DEST = "${_base_dest}"


def server_programs_of(cmake_text: str) -> tuple[str, ...]:
    """The targets of the first ``install(TARGETS ... RUNTIME DESTINATION ${_base_dest} ...)``
    in a llama/server CMakeLists.txt; () when there is none."""
    match = _SERVER_PROGRAMS.search(cmake_text)
    return () if match is None else tuple(match[1].split())


def server_libraries_of(cmake_text: str) -> tuple[str, ...]:
    """The libraries of the first ``install(TARGETS ${list} ... LIBRARY DESTINATION
    ${_base_dest})``, with the list expanded as the file builds it: ``set(list a b)``,
    ``list(APPEND list c ${item})`` and, for ``${item}``, ``foreach(item IN ITEMS d e)``.

    Conditions are not evaluated: a name appended under ``if(TARGET x)`` counts, as it may ship.
    () when there is no such install rule."""
    calls = [(m[1].lower(), m[2].split()) for m in _CALL.finditer(cmake_text)]
    variable = next((v for name, args in calls if (v := _library_list(name, args))), None)
    if variable is None:
        return ()
    loop_items: dict[str, list[str]] = {}
    for name, args in calls:
        if name == "foreach" and args[1:3] == ["IN", "ITEMS"]:
            loop_items[args[0]] = args[3:]
    found: list[str] = []
    for name, args in calls:
        if name == "set" and args[:1] == [variable]:
            found = _expanded(args[1:], loop_items)
        elif name == "list" and args[:2] == ["APPEND", variable]:
            found.extend(_expanded(args[2:], loop_items))
    return tuple(dict.fromkeys(found))


def _library_list(name: str, args: list[str]) -> str | None:
    """The list an ``install(TARGETS ${var} ... LIBRARY DESTINATION ${_base_dest})`` ships."""
    if name != "install" or len(args) < 2 or args[0] != "TARGETS":
        return None
    listed = _VARIABLE.fullmatch(args[1])
    ships = any(args[i : i + 3] == ["LIBRARY", "DESTINATION", _BASE_DEST] for i in range(len(args)))
    return listed[1] if listed and ships else None


def _expanded(items: list[str], loop_items: dict[str, list[str]]) -> list[str]:
    names: list[str] = []
    for item in items:
        variable = _VARIABLE.fullmatch(item)
        if variable is not None:
            names.extend(n for n in loop_items.get(variable[1], ()) if _TARGET_NAME.fullmatch(n))
        elif _TARGET_NAME.fullmatch(item):
            names.append(item)
    return names
