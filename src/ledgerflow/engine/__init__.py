"""The use cases that change state: each loads what it needs, asks the domain, and writes state and events in one
transaction; with the checks they share (who sees what, tokens, idempotency).
"""
