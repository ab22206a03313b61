"""Webhook receivers: Tito, pretix and Eventbrite tell the agent about each sale.

`lanyard agent serve --webhooks HOST:PORT` serves them (off by default; HTTPS, or plain HTTP
on loopback only) for the vendors configured in the data directory's webhooks.toml
(config.py). A delivery is checked (Tito's signature, a password for the others), stored
durably and answered at once (receiver.py, queue.py); a background worker screens the
attendees and the buyer through the agent's Check, raises alerts and, for a pretix order
awaiting approval, approves or denies it (worker.py, vendors.py). Senders never see a
decision.
"""
