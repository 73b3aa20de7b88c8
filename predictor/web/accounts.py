"""The account pages under /accounts/: Django's auth views, with log-ins rate-limited per address,
and password reset offered only where the site can send mail (DJANGO_EMAIL_HOST): without it, the
reset pages are 404 and the log-in page does not link to them, instead of promising a mail that
never leaves."""

from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.urls import path
from django.utils.translation import gettext_lazy as _

from predictor.ops import limits


def password_reset_enabled() -> bool:
    return bool(settings.EMAIL_HOST)


def mail_required(view):
    @wraps(view)
    def view_when_mail_is_set_up(request, *args, **kwargs):
        if not password_reset_enabled():
            raise Http404(_("Password reset is not offered on this site; ask an administrator."))
        return view(request, *args, **kwargs)

    return view_when_mail_is_set_up


class LoginView(auth_views.LoginView):
    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "password_reset_enabled": password_reset_enabled()}


login = limits.limit_page(limits.LOGINS)(LoginView.as_view())
admin_login = limits.limit_page(limits.LOGINS)(admin.site.login)

RESET_PAGES = {
    "password_reset": limits.limit_page(limits.PASSWORD_RESETS)(auth_views.PasswordResetView.as_view()),
    "password_reset_done": auth_views.PasswordResetDoneView.as_view(),
    "password_reset_confirm": auth_views.PasswordResetConfirmView.as_view(),
    "password_reset_complete": auth_views.PasswordResetCompleteView.as_view(),
}

# Django's auth URLs (same paths and names), with the views above in place of its own.
urlpatterns = [
    path("login/", login, name="login"),
    *(
        path(str(pattern.pattern), mail_required(RESET_PAGES[pattern.name]), name=pattern.name)
        if pattern.name in RESET_PAGES
        else pattern
        for pattern in auth_urls.urlpatterns
        if pattern.name != "login"
    ),
]
