"""The columns of a dataset row, listed once: the build writes them, the trainer and the eval
read them (synth.dataset.builder documents each). Any other column is a top-level copy of a
scalar field of the input record."""

from __future__ import annotations

MESSAGES = "messages"  # TRL conversational format; the last message is the teacher's answer
LABEL = "label"  # classification: the normalised label
PARSED = "parsed"  # structured output: the canonical JSON
INPUT = "input"  # the input record, as a JSON string
LOGPROBS = (
    "logprobs"  # the answer tokens' top-K log-probabilities, JSON (when the teacher gave any)
)
# classification with log-probabilities: {label: p} as JSON (synth.dataset.teacher_dist), or
# null where the row keeps its hard label only
TEACHER_DIST = "teacher_dist"

# the columns that are not fields of the input record: an input field of one of these names
# stays inside `input` only
COLUMNS = frozenset(
    {
        MESSAGES,
        LABEL,
        PARSED,
        INPUT,
        "teacher_model",
        "key",
        "line",
        "group",
        "cost_usd",
        LOGPROBS,
        TEACHER_DIST,
    }
)
