"""Read-only figures and lists for people: the scorecard, reports, the weekly review, timelines, summaries and the
web UI's team lists.
"""
