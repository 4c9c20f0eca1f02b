"""What the budget believes of the usage a response reports.

The settled cost of an answer is priced from the usage the provider reports. A number the
budget cannot believe would let it spend money it does not count: a response with no usage
(priced $0, the budget never trips), negative counts (headroom out of nothing), or counts no
request of this size can produce (1e9 tokens from `max_tokens: 16`). Such an answer is kept,
flagged, and priced at its reservation's worst case instead.
"""

from __future__ import annotations

from dataclasses import replace

from synth.harvest.providers.base import Usage


def unbelievable(usage: Usage, prompt_bound: int, max_output: int | None) -> str | None:
    """Why `usage` cannot be believed, or None. `prompt_bound` is the reservation's upper bound
    of the prompt's tokens, `max_output` the request's max_tokens (None: unbounded)."""
    if not usage.reported:
        return "usage missing: priced at the worst case"
    counts = (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)
    if any(n < 0 for n in counts):
        return f"negative usage ({usage.input_tokens} in, {usage.output_tokens} out): priced at the worst case"
    if usage.input_tokens > prompt_bound or usage.cached_input_tokens > usage.input_tokens:
        return (
            f"usage above the request's bound ({usage.input_tokens} input tokens, at most "
            f"{prompt_bound} possible): priced at the worst case"
        )
    if max_output is not None and usage.output_tokens > max_output:
        return (
            f"usage above the request's bound ({usage.output_tokens} output tokens with "
            f"max_tokens {max_output}): priced at the worst case"
        )
    return None


def clamp(usage: Usage, prompt_bound: int, max_output: int | None) -> Usage:
    """The flagged usage recorded within what the request could have used."""
    top_out = max_output if max_output is not None else max(usage.output_tokens, 0)
    fresh_in = min(max(usage.input_tokens, 0), prompt_bound)
    return replace(
        usage,
        input_tokens=fresh_in,
        output_tokens=min(max(usage.output_tokens, 0), top_out),
        cached_input_tokens=min(max(usage.cached_input_tokens, 0), fresh_in),
    )
