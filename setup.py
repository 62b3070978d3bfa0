"""Packages for setuptools; everything else is in pyproject.toml.

The patch series live in the top-level patches/ directory (data, beside the code that applies
them in build_tools/patching/) and install as the data package build_tools.patch_series, which
`packages.find` cannot map by itself.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["build_tools*"]), "build_tools.patch_series"],
    package_dir={"build_tools.patch_series": "patches"},
)
