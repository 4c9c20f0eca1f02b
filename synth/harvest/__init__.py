"""The harvest: every input answered once by the teacher, within rate limits and budget.

engine.py         the request path: journal → budget → retry → limiter → provider
limits.py         pacing of one lane: concurrency, RPM/TPM, a limit told from a hiccup
turns.py          a lane's queue: one waiter at its head at a time, retries first
headers.py        what response headers say about waiting: retry-after, rate-limit windows
retry.py          the retry policy: retry or not, and how long to wait
secrets.py        keys out of every provider text, where it enters the engine
usage_check.py    usage the budget cannot believe (missing, negative, too big): worst case
budget.py         money reserved before a request leaves, settled after
pricing.py        what the teacher costs, in Decimal, from genai-prices or the config
estimate.py       the dry run's estimate: online, online with the prompt cache, batch
cost_report.py    `distill report`: what was sent, what came back, what it cost
providers/        one module per teacher API behind one small protocol (base, openai, anthropic)
batch/            `teacher.mode: batch`: each provider's batch API, the runner, the factory
"""
