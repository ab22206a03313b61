"""pretix-lanyard: Code of Conduct screening of every pretix order through a Lanyard agent.

The organiser enables the plugin for an event and, on its settings page, gives the agent's
address, its CA certificate (when the agent speaks TLS), the integration credentials made
by `lanyard agent integration add pretix`, and the policy (policy.py). Each order's
attendees and buyer are screened through `lanyard.client.ScreeningClient` (signals.py);
only the decision and its reason code come back, never the WG's record.
"""

__version__ = "0.1.0"


class PretixPluginMeta:
    """Read by pretix's plugin list; the Django app config carries the same metadata."""

    name = "Lanyard screening"
    author = "Lanyard"
    version = __version__
    category = "INTEGRATION"
    visible = True
    description = (
        "Screens each order's attendees and buyer against the Code of Conduct working "
        "group's list through the event's Lanyard agent."
    )
