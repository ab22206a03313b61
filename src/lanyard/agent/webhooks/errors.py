"""Errors of the webhook receivers; all are `lanyard.agent.errors.Error`s."""

from __future__ import annotations

from lanyard.agent.errors import Error


class WebhookConfigError(Error):
    """webhooks.toml is missing, unreadable, too widely readable, or holds a bad value."""


class VendorError(Error):
    """A ticketing system's API answered with something other than what was asked.

    `retry` is True when trying again later may help (unreachable, 5xx, 429), False when
    it cannot (404, a malformed object); the message names the vendor and the status,
    never anything the object held.
    """

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry
