"""Which eval task a template's `output:` calls for.

Apart from base.py so that base (what every task implements) never imports its own subclasses.
"""

from __future__ import annotations

from typing import Any

from evals.tasks.base import Task
from evals.tasks.classification import Classification
from evals.tasks.freetext import FreeText
from evals.tasks.structured import Structured


def task_for(labels: list[str] | None = None, json_schema: dict[str, Any] | None = None) -> Task:
    """The task a template's `output:` describes."""
    if labels:
        return Classification(labels)
    if json_schema:
        return Structured(json_schema)
    return FreeText()
