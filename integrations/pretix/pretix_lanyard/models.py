"""Orders let through while the agent could not answer, each waiting to be screened again.

One row per order, so that queueing an order (at placement, on any change, in any pretix
worker) and finishing with it (the periodic re-screen) never rewrite each other's work.
"""

from __future__ import annotations

import uuid

from django.db import models
from django_scopes import ScopedManager
from pretix.base.models import Order


class PendingRescreen(models.Model):
    """An order allowed "to be screened later". `token` changes each time the order is
    queued again, so the re-screen removes only the request it answered: an edit made while
    it was screening the order stays queued."""

    order = models.OneToOneField(
        "pretixbase.Order", on_delete=models.CASCADE, related_name="lanyard_rescreen"
    )
    token = models.UUIDField(default=uuid.uuid4)

    objects = ScopedManager(organizer="order__event__organizer")

    @classmethod
    def queue(cls, order: Order) -> None:
        """Queue `order`, or queue it again with a fresh token: one atomic upsert."""
        cls.objects.update_or_create(order=order, defaults={"token": uuid.uuid4()})

    def settle(self) -> bool:
        """Remove this request unless the order was queued again since it was read;
        True when it was removed."""
        deleted, _ = type(self).objects.filter(pk=self.pk, token=self.token).delete()
        return bool(deleted)
