"""What makes the history trustworthy: verifying the chains, signed checkpoints, witnesses, evidence packs and
exports an auditor takes away.
"""
