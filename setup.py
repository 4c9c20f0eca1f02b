"""The wheel carries the repository's prompts/ and examples/ inside the package, as
synth/bundled/prompts/ and synth/bundled/examples/, so that an installed `distill` finds its
templates and the demo's example (synth/resources.py). Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("prompts", "examples")


class BuildPyWithBundled(build_py):
    def run(self) -> None:
        super().run()
        for name in BUNDLED:
            target = Path(self.build_lib) / "synth" / "bundled" / name
            shutil.rmtree(target, ignore_errors=True)  # a stale copy from an earlier build
            shutil.copytree(
                ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "runs")
            )


setup(cmdclass={"build_py": BuildPyWithBundled})
