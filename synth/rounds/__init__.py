"""Active distillation: which pool inputs each round sends to the teacher.

pool.py           the input pool: its records, near-duplicate groups and prompts
select.py         which pool items a round sends: pure functions over arrays
"""
