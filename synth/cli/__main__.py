"""`python -m synth.cli` is `distill` (what `accelerate launch -m synth.cli train` runs)."""

from synth.cli.verbs import main

main()
