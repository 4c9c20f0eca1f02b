"""The command line: the only layer of `synth` that may import `finetune` and `evals`.

verbs.py             `distill` and its verbs: parse, call one library function, print
pipeline.py          `distill run`: every stage that is not current, in order
stamps.py            what each stage was made from, so `distill run` skips what is current
rounds.py            `distill run` with a `rounds:` section: active distillation over a pool
logs.py              `distill logs`: the journal's answers, filtered, without SQL
demo.py              `distill demo`: the whole pipeline offline on the bundled tickets
progress.py          the one place that draws progress
config_reference.py  docs/config-reference.md, generated from the config models
__main__.py          `python -m synth.cli` (what `accelerate launch` runs)
"""

from synth.cli.verbs import main

__all__ = ["main"]
