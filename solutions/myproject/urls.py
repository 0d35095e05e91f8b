"""URLs for ordinary HTTP pages. WebSocket routes live in myapp/routing.py."""
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/chat/", permanent=False)),
    path("chat/", include("myapp.urls")),
    # Django's own login and logout pages (accounts/login/, accounts/logout/, ...);
    # the login form is myapp/templates/registration/login.html.
    path("accounts/", include("django.contrib.auth.urls")),
]
