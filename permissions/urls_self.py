"""The self-service pages: sign in and out (Django's views) and "Your account"."""

from django.contrib.auth import views as auth_views
from django.urls import path

from permissions import views_self

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(
        template_name="accord/self/login.html", next_page="accord-self", redirect_authenticated_user=True,
        extra_context={"title": "Sign in"}), name="accord-login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="accord-login"), name="accord-logout"),
    path("me/", views_self.home, name="accord-self"),
    path("me/tokens/", views_self.create, name="accord-self-token-create"),
    path("me/tokens/<int:pk>/revoke/", views_self.revoke, name="accord-self-token-revoke"),
]
