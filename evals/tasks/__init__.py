"""Eval tasks, one file per kind of template output (see base.py; registry.py picks one)."""

from evals.tasks.base import Example, Score, Task, distillation_gap
from evals.tasks.registry import task_for

__all__ = ["Example", "Score", "Task", "distillation_gap", "task_for"]
