"""The harvest journal: one SQLite file per run folder, the single source of truth for what
was asked, answered and paid. The only package that runs SQL on it.

    store.py          Journal: items, attempts, runs, the plan; written by the harvest, read by all
    migrations.py     the schema as numbered migrations recorded in the database
    lock.py           one process per run folder at a time (a kernel file lock)
    queries.py        read-only questions other rooms ask: done keys, bill per model, digest
    batches.py        which items went into which provider batch (teacher.mode: batch)
    rounds.py         the record of active-distillation rounds (tables of migration m007)
"""
