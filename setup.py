"""Packaging that pyproject.toml cannot say: pipelines/ ships inside the wheel as daudit/pipelines/.

Everything else (metadata, dependencies, package data) is in pyproject.toml. The example specs
stay in the top-level pipelines/ folder of the repository; an installed daudit finds them in
daudit/pipelines/ (daudit.core.paths.specs_dir).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["daudit", "daudit.*"]), "daudit.pipelines"],
    package_dir={"daudit.pipelines": "pipelines"},
)
