"""Typed settings: every option declared once, resolved from defaults, the environment, a
profile and the command line into one frozen value per command.

``declare`` holds the machinery (options, provenance, resolution), ``groups`` the option groups
commands share, ``commands`` each command's settings, ``parse`` the value parsers, ``profiles``
the profiles file (``ollama-build.toml``)::

    [profiles.cuda12-no-maxwell]
    description = "CUDA 12 without Maxwell"
    cuda = "12.4"
    exclude-arch = ["50", "52"]     # a list for a repeatable option
    arch = ["preset"]

Precedence is default < environment < profile < command line; a flag given on the command line
replaces the profile's value (lists included). Profile keys are the long option names of
``build``, ``plan`` and ``verify-reproducible``; a typo fails with a "did you mean".
"""
