"""The simulated teacher's tokenizer: a word or a punctuation mark is one token.

Deterministic, cheap, and never more tokens than UTF-8 bytes (each token is at least one
character), so a harvester's worst-case estimate from bytes is always safe against the sim.
A request's input is the sum over its messages (the system prompt included) of their tokens
plus `PER_MESSAGE` each, the way providers add a few tokens of framing per message.
"""

from __future__ import annotations

import re
from functools import lru_cache

PER_MESSAGE = 3
_TOKEN = re.compile(r"\w+|[^\w\s]")
# The same tokens with their leading whitespace: joined back they give the text (log-probs).
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


def count_tokens(text: str | None) -> int:
    return len(_TOKEN.findall(text)) if text else 0


@lru_cache(maxsize=4096)
def count_system_tokens(text: str) -> int:
    """`count_tokens` for texts that repeat (system prompts): counted once."""
    return count_tokens(text)


def input_tokens(system_parts: list[str], contents: list[str]) -> int:
    """Tokens of a request: every message's content + PER_MESSAGE, system messages included."""
    total = sum(count_system_tokens(s) for s in system_parts)
    total += sum(count_tokens(c) for c in contents)
    return total + PER_MESSAGE * (len(system_parts) + len(contents))


def truncate_tokens(text: str, limit: int) -> str:
    """The prefix of `text` holding its first `limit` tokens (exactly `limit` when it has more)."""
    if limit <= 0:
        return ""
    for i, match in enumerate(_TOKEN.finditer(text), 1):
        if i == limit:
            return text[: match.end()]
    return text


def pieces(text: str) -> list[str]:
    """Tokens with their leading whitespace; trailing whitespace joins the last one."""
    parts = _PIECE.findall(text)
    if not parts:
        return [text] if text else []
    tail = len("".join(parts))
    if tail < len(text):
        parts[-1] += text[tail:]
    return parts
