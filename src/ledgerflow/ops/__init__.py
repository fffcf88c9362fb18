"""Running ledgerflow: settings, metrics and logs, backups.
"""
