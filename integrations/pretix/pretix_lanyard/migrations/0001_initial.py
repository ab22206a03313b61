"""One row per order waiting to be screened again (models.PendingRescreen).

Earlier builds of the plugin kept these orders as a list of codes in the event setting
"lanyard_rescreen"; they are carried over here, so that no order let through during an
outage before the upgrade is forgotten.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

import django.db.models.deletion
from django.db import migrations, models

LEGACY_KEY = "lanyard_rescreen"


def carry_over(apps: Any, schema_editor: Any) -> None:
    """Queue every order of the legacy setting, then remove the setting."""
    store = apps.get_model("pretixbase", "Event_SettingsStore")
    order_model = apps.get_model("pretixbase", "Order")
    pending = apps.get_model("pretix_lanyard", "PendingRescreen")
    for setting in store.objects.filter(key=LEGACY_KEY):
        try:
            codes = json.loads(setting.value or "[]")
        except ValueError:
            codes = []
        for order in order_model.objects.filter(event_id=setting.object_id, code__in=codes):
            pending.objects.get_or_create(order=order)
        setting.delete()


class Migration(migrations.Migration):
    initial = True

    dependencies: ClassVar[list[tuple[str, str]]] = [
        ("pretixbase", "0270_historicpassword"),
    ]

    operations: ClassVar[list[migrations.operations.base.Operation]] = [
        migrations.CreateModel(
            name="PendingRescreen",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.UUIDField(default=uuid.uuid4)),
                (
                    "order",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lanyard_rescreen",
                        to="pretixbase.order",
                    ),
                ),
            ],
        ),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
    ]
