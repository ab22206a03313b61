"""The Django app config pretix loads for the plugin (pretix reads PretixPluginMeta)."""

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from pretix.base.plugins import PluginConfig

from pretix_lanyard import __version__


class LanyardApp(PluginConfig):
    default = True
    name = "pretix_lanyard"
    verbose_name = "Lanyard screening"

    class PretixPluginMeta:
        name = _("Lanyard screening")
        author = "Lanyard"
        version = __version__
        category = "INTEGRATION"
        visible = True
        description = _(
            "Screens each order's attendees and buyer against the Code of Conduct working "
            "group's list through the event's Lanyard agent."
        )
        compatibility = "pretix>=2025.1.0"

    def ready(self) -> None:
        try:
            from lanyard.client import ScreeningClient  # noqa: F401 - presence check
        except ImportError as exc:
            raise ImproperlyConfigured(
                "pretix-lanyard needs Lanyard installed in pretix's environment "
                "(pip install PATH-TO-LANYARD), which provides lanyard.client"
            ) from exc
        from pretix_lanyard import signals  # noqa: F401 - registers the receivers
