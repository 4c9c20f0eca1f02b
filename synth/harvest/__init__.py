"""The harvest: every input answered once by the teacher, within rate limits and budget.

engine.py         the request path: journal → budget → retry → limiter → provider
limits.py         pacing of one lane: concurrency, RPM/TPM, rate-limit headers
retry.py          the retry policy: retry or not, and how long to wait
budget.py         money reserved before a request leaves, settled after
pricing.py        what the teacher costs, in Decimal, from genai-prices or the config
cost_report.py    `distill report`: what was sent, what came back, what it cost
providers/        one module per teacher API behind one small protocol (base, openai, anthropic)
"""
