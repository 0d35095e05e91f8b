"""URLs for ordinary HTTP pages. WebSocket routes live in myapp/routing.py."""
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/chat/", permanent=False)),
    path("chat/", include("myapp.urls")),
    # TODO(users): Django's own login pages: path("accounts/", include("django.contrib.auth.urls")),
    # and a form in myapp/templates/registration/login.html.
]
