from django.urls import re_path

from pretix_lanyard.views import LanyardSettings

urlpatterns = [
    re_path(
        r"^control/event/(?P<organizer>[^/]+)/(?P<event>[^/]+)/lanyard/$",
        LanyardSettings.as_view(),
        name="settings",
    ),
]
