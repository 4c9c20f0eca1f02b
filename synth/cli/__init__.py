"""The command line: the only layer of `synth` that may import `finetune` and `evals`."""

from synth.cli.verbs import main

__all__ = ["main"]
