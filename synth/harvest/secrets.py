"""Keys out of every text a provider sends back.

Providers and proxies echo the key they were given: in full, masked as OpenAI's 401 does
(`Incorrect API key provided: sk-pro****zq9w`), or as a header (`Bearer sk-...`). A provider
error's text enters the engine at one place (`Harvester._send`), and is cleaned there by a
`Redactor` that knows the run's key; everything downstream (journal, attempts, logs, report,
stderr, exceptions) only ever sees the cleaned text.
"""

from __future__ import annotations

import re

from synth.errors import ProviderError

MARK = "<key>"
#: key-shaped tokens, masked or not: sk-..., sk-ant-..., sk-proj-..., key-...
_KEY_LIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_.*-]{3,}")
#: a masked key of any provider: a run of asterisks with the characters around it
_MASKED = re.compile(r"[A-Za-z0-9_.-]{0,16}\*{3,}[A-Za-z0-9_.-]{0,16}")
_BEARER = re.compile(r"(?i)\b(bearer|x-api-key:?|api[_-]?key[=:])\s*[^\s\"',;)]+")


class Redactor:
    """Cleans text of one key (`key`) and of anything that looks like a key."""

    def __init__(self, key: str | None = None) -> None:
        self.patterns: list[re.Pattern[str]] = []
        if key and len(key) >= 8:
            self.patterns.append(re.compile(re.escape(key)))
            # its prefix and its last four with anything between: "sk-pro...zq9w", "sk-p…zq9w"
            self.patterns.append(
                re.compile(re.escape(key[:3]) + r"[^\s\"']{0,40}?" + re.escape(key[-4:]))
            )

    def __call__(self, text: str) -> str:
        for p in self.patterns:
            text = p.sub(MARK, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {MARK}", text)
        text = _MASKED.sub(MARK, text)
        return _KEY_LIKE.sub(MARK, text)

    def error(self, err: ProviderError) -> ProviderError:
        """The same error with its text cleaned (status, headers and kind kept)."""
        clean = self(str(err))
        if clean != str(err):
            err.args = (clean,)
        return err


redact = Redactor()
