"""The files that ship with distill: the prompt templates (prompts/) and the example tasks
(examples/). In a checkout they are the repository's top-level folders; an installed wheel
carries a copy inside the package, synth/bundled/ (written by setup.py at build time)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The folder `name` ("prompts" or "examples") of the installed package, else of the
    checkout this package lives in."""
    inside = _PACKAGE / "bundled" / name
    return inside if inside.is_dir() else _PACKAGE.parent / name


PROMPTS = bundled("prompts")
EXAMPLES = bundled("examples")
