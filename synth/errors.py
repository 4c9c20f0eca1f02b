"""Every error a user can cause, and the exit code the CLI gives it.

    DistillError                      one line for the user, no traceback; exit_code per class
    ├── ConfigError                   the run config: a missing file, a bad or unknown key (exit 2)
    ├── TemplateError                 a prompt template: not found, bad YAML, bad Jinja (exit 2)
    ├── InputError                    the inputs file: bad JSON, a missing field (exit 2)
    ├── PricingError                  a model with no known price and no override (exit 2)
    ├── DependencyError               an optional package is missing: names what to install (exit 2)
    ├── StageError                    a stage needs an earlier one: "run distill build first" (exit 2)
    ├── AuthError                     401/403 from the teacher: the key is wrong or lacks access (exit 3)
    ├── BudgetExceeded                budget_usd would be crossed: stopped, resumable (exit 4)
    ├── EndpointError                 the first requests all failed alike (nothing listening, 404,
    │                                 an HTML page): stopped early, resumable (exit 5)
    ├── JournalError                  a run's journal SQLite cannot read: damaged, cut short (exit 2)
    ├── RunBusy                       another process is harvesting/building/training the same
    │                                 run folder: refused at once, names its pid (exit 6)
    ├── Interrupted                   Ctrl-C or SIGTERM: stopped cleanly, resumable (exit 130)
    └── ProviderError                 one failed request: its status, headers and kind, from which
                                      synth.harvest.retry decides; it never leaves the engine (the
                                      item fails with its message, or a refused key is AuthError)

Messages say what to do next. The API key never appears in one.
"""

from __future__ import annotations


class DistillError(Exception):
    """Base class: `str(err)` is the one line shown to the user."""

    exit_code = 1


class ConfigError(DistillError):
    exit_code = 2


class TemplateError(DistillError):
    exit_code = 2


class InputError(DistillError):
    exit_code = 2


class PricingError(DistillError):
    exit_code = 2


class DependencyError(DistillError):
    exit_code = 2


class StageError(DistillError):
    exit_code = 2


class AuthError(DistillError):
    exit_code = 3


class BudgetExceeded(DistillError):
    exit_code = 4


class EndpointError(DistillError):
    exit_code = 5


class JournalError(DistillError):
    exit_code = 2


class RunBusy(DistillError):
    exit_code = 6


class Interrupted(DistillError):
    exit_code = 130


class ProviderError(DistillError):
    """One failed request, as the provider module saw it.

    `status` is the HTTP status (None for timeouts and dropped connections), `headers` the
    response headers (lower-cased keys), `kind` a short tag ("timeout", "connection",
    "http", "bad_response"). The retry policy decides from these alone.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        kind: str = "http",
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.kind = kind
        # False only when the request provably never left (the connection was refused)
        self.sent = sent

    @property
    def may_be_billed(self) -> bool:
        """Whether the provider may have generated (and billed) an answer for this attempt:
        a timeout, a dropped connection or a 200 that did not parse leave it unknown; an
        error status or a refused connection mean nothing was generated."""
        return self.sent and (self.status is None or self.kind == "bad_response")
