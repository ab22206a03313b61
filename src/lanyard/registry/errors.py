"""The registry's error hierarchy. grpc_errors.py maps each class to one status code."""

from __future__ import annotations

from lanyard import errors


class Error(errors.Error):
    """Base of every error the registry raises on purpose."""


class InvalidRequest(Error):
    """The request is malformed: a bad point, a batch over the limit, a bad field."""


class Unauthenticated(Error):
    """The caller could not be identified: no token, a bad one, an unknown or revoked key."""


class PermissionDenied(Error):
    """The caller is known but may not do this (an event calling the admin service)."""


class QuotaExhausted(Error):
    """The event has used up its evaluation quota (spec SCREEN-v1 §7)."""


class TooLarge(Error):
    """The answer would exceed the message limit (a whole snapshot asked for in one
    GetSnapshot answer: StreamSnapshot sends it in chunks)."""


class WrongEpoch(Error):
    """The request names an OPRF epoch the registry does not serve."""


class NotReady(Error):
    """The call needs a state that is not there yet (a report's files not all uploaded, a
    resumption from the wrong chunk)."""


class StaleKey(Error):
    """A rotation names a signing key that is no longer the current one."""


class NotFound(Error):
    """The event or record named does not exist."""


class AlreadyExists(Error):
    """An event or record with that id already exists."""


class DataDirError(Error):
    """The data directory is missing, incomplete or damaged."""


class ServeError(Error):
    """The registry cannot serve as configured: an address in use, TLS missing off loopback."""


class OutsideWindow(Error):
    """An event asking to evaluate outside its enrolment window (enrolment to the event's
    end plus the attendee retention period)."""


class LogOutOfStep(Error):
    """An evaluation log leaf whose index is not the log's next one: the registry's view
    of the log fell behind the database (it reloads it; the call is refused, uncharged)."""
