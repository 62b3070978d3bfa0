"""Build profiles: named sets of build options in ``ollama-build.toml``.

A profile holds any option of ``build``/``plan`` under its long option name::

    [profiles.cuda12-no-maxwell]
    description = "CUDA 12 without Maxwell"
    cuda = "12.4"
    exclude-arch = ["50", "52"]     # a list for a repeatable option
    arch = ["preset"]

Precedence is defaults < profile < command line; a flag given on the command line replaces the
profile's value (lists included). The known keys are read from the real argparse parsers, so a
new option is valid in profiles the moment a command registers it, and a typo fails with a
"did you mean". Profile values become parser defaults before the real parse, and every value's
source is recorded for ``--show-options`` and the CI step summary.
"""

from __future__ import annotations

from build_tools.settings.profiles import (
    PROFILES_FILE,
    Profile,
    ProfilesFile,
    find_profiles_file,
    load_profiles,
)
from build_tools.settings.resolve import (
    ResolvedOption,
    ResolvedOptions,
    Source,
    add_profile_arguments,
    apply_profile,
    show_options,
)
from build_tools.settings.values import command_parsers, option_actions, profile_values

__all__ = [
    "PROFILES_FILE",
    "Profile",
    "ProfilesFile",
    "ResolvedOption",
    "ResolvedOptions",
    "Source",
    "add_profile_arguments",
    "apply_profile",
    "command_parsers",
    "find_profiles_file",
    "load_profiles",
    "option_actions",
    "profile_values",
    "show_options",
]
