"""Reaching people where they are: the outbox's delivery, decision e-mails and Slack.
"""
