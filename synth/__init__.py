"""distill's `synth` package: everything up to the dataset, in rooms. Each room's __init__
maps its own modules; the direction runs one way: cli/ may import finetune/ and evals/,
nothing else here may (tests/test_layout.py).

    journal/          the SQLite journal: store, migrations, queries (no SQL outside it)
    harvest/          the teacher's answers: engine, limits, retry, pricing, budget, providers/
    dataset/          the journal's answers → a Hugging Face dataset: builder, filters/, splits
    sim/              the simulated teacher: an OpenAI- and Anthropic-compatible test bench
    rounds/           active distillation: which pool inputs each round sends (pool, select)
    cli/              the `distill` verbs, `distill run`, the demo, progress, config reference

    errors.py         every error a user can cause, and its exit code
    config.py         the run config (teacher, budget; composes the sections below)
    config_base.py    what every config section shares: Strict, KeyEnvName
    student_config.py the `student:` section (a leaf: finetune/ reads it, synth never imports finetune/)
    eval_config.py    the `eval:` section (a leaf likewise, for evals/)
    rounds_config.py  the `rounds:` section: active distillation over an input pool
    templates.py      prompt templates: found by name or path, rendered with Jinja
    inputs.py         the inputs file: JSONL, streamed and checked line by line
    answers.py        read_json / read_label: how build and eval both read an answer
    paths.py          RunPaths: every file and folder of a run, named once
    money.py          dollars as Decimal, rounded in one place
    resources.py      the bundled prompts/ and examples/, in a checkout or an installed wheel
"""
