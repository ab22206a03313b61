"""The event's Lanyard settings page: agent, CA, credentials, policy."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from pretix.base.forms import SettingsForm
from pretix.control.views.event import EventSettingsFormView, EventSettingsViewMixin


class LanyardSettingsForm(SettingsForm):
    lanyard_agent = forms.CharField(
        label=_("Agent address"),
        help_text=_("host:port of the event's Lanyard agent (TLS unless it is on this machine)."),
        required=False,
    )
    lanyard_ca = forms.CharField(
        label=_("Agent CA certificate (PEM)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )
    lanyard_credentials = forms.CharField(
        label=_("Integration credentials"),
        help_text=_("The file `lanyard agent integration add pretix` wrote (JSON)."),
        widget=forms.PasswordInput(render_value=True),
        required=False,
    )
    lanyard_when = forms.ChoiceField(
        label=_("Screen"),
        choices=[
            ("checkout", _("at checkout, before the order exists")),
            ("placement", _("when the order is placed")),
        ],
    )
    lanyard_on_deny = forms.ChoiceField(
        label=_("Someone banned"),
        choices=[
            ("refuse", _("the order is not completed (a neutral message is shown)")),
            ("hold", _("the order waits for approval, its tickets blocked")),
        ],
    )
    lanyard_on_unavailable = forms.ChoiceField(
        label=_("The agent cannot answer"),
        choices=[
            ("hold", _("the order waits for approval")),
            ("allow_rescreen", _("the order goes through and is screened again later")),
        ],
    )

    def clean_lanyard_credentials(self) -> str:
        text: str = self.cleaned_data.get("lanyard_credentials") or ""
        if text:
            try:
                data = json.loads(text)
                if not all(k in data for k in ("key_id", "private_key", "endpoint")):
                    raise ValueError
            except ValueError as exc:
                raise forms.ValidationError(
                    _("This is not a Lanyard credentials file (key_id, private_key, endpoint).")
                ) from exc
        return text


class LanyardSettings(EventSettingsViewMixin, EventSettingsFormView):
    form_class = LanyardSettingsForm
    template_name = "pretix_lanyard/settings.html"
    permission = "event.settings.general:write"

    def get_success_url(self) -> str:
        return reverse(
            "plugins:pretix_lanyard:settings",
            kwargs={
                "organizer": self.request.event.organizer.slug,
                "event": self.request.event.slug,
            },
        )

    @transaction.atomic
    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Saved like every settings page, but logged by field name only: the
        # credentials must never reach the event's log.
        form = self.get_form()
        if not form.is_valid():
            messages.error(request, _("We could not save your changes. See below for details."))
            return self.get(request)
        form.save()
        if form.has_changed():
            request.event.log_action(
                "pretix.event.settings", user=request.user, data={"changed": form.changed_data}
            )
        messages.success(request, _("Your changes have been saved."))
        return self.form_valid(form)
