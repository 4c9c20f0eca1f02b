"""What the simulated teacher answers: a deterministic function per task, chosen by name.

registry.py       the answer-function protocol and the names it resolves (`--answers`)
tickets.py        support-ticket triage: a label, sometimes styled, sometimes wrong
extract.py        invoice extraction: JSON fields read from the invoice text
"""
