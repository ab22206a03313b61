"""Each event's local agent: screening, registration checks, incidents and reports.

For now it holds the event-side registry client (evaluation and verified snapshots); the
agent's own service grows around it.
"""
