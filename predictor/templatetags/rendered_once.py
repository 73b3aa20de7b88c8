"""Parts of the busiest pages that are the same for every anonymous visitor, rendered once per process.

Why: the form's POST is answered with the result page (see predictor.web.answers), and that page
carries the site header and a blank form, so every prediction renders both. Django renders each
number input through its form template engine (about 150 µs each here) and the header reverses
four URLs; together that was about a third of a prediction's time in-process. For an anonymous
visitor neither depends on anything but the page (which link is current) and the language, so
each is rendered once per process for each and kept in memory, as are the page's asset links
(each ``{% static %}`` looks up a hashed file name) and the footer: what the answering model was
trained on and the language links (once per language and model version). ``bench/profile_requests.py``
measures a prediction with and without (``--no-rendered-once``); docs/performance.md has the
figures. Pages for a logged-in user and bound forms (with values or errors) render as usual.
"""

from collections.abc import Callable
from typing import Any

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.safestring import SafeString
from django.utils.translation import get_language

register = template.Library()

_rendered: dict[tuple, SafeString] = {}


@receiver(setting_changed)
def _forget_on_setting_change(**kwargs: Any) -> None:
    _rendered.clear()  # tests change settings (time zone, storages) that a rendered part may reflect


def _once(key: tuple, render: Callable[[], SafeString]) -> SafeString:
    if not settings.RENDER_ONCE:
        return render()
    if key not in _rendered:
        _rendered[key] = render()
    return _rendered[key]


def _include(name: str, context: template.Context) -> SafeString:
    return context.template.engine.get_template(name).render(context)


@register.simple_tag(takes_context=True)
def site_assets(context: template.Context) -> SafeString:
    return _once(("assets",), lambda: _include("_site_assets.html", context))


@register.simple_tag(takes_context=True)
def site_header(context: template.Context) -> SafeString:
    request = context.get("request")
    user = getattr(request, "user", None)  # none yet on an error page answered before authentication ran
    if user is not None and user.is_authenticated:
        return _include("_site_header.html", context)
    match = getattr(request, "resolver_match", None)
    view_name = match.view_name if match else ""
    key = ("header", view_name, get_language(), context.get("product_name"))  # the name changes once other models serve
    return _once(key, lambda: _include("_site_header.html", context))


@register.simple_tag(takes_context=True)
def site_footer(context: template.Context) -> SafeString:
    """What the answers come from and the language links: the same for everyone until another version answers."""
    model = context.get("answering_model")
    key = ("footer", model.version_id if model else None, get_language())

    def render() -> SafeString:
        with context.push(LANGUAGES=settings.LANGUAGES):  # each language named in itself
            return _include("_site_footer.html", context)

    return _once(key, render)


@register.simple_tag(takes_context=True)
def measurement_fields(context: template.Context) -> SafeString:
    if context["form"].is_bound:
        return _include("predictor/_form_fields.html", context)
    return _once(("blank fields", get_language()), lambda: _include("predictor/_form_fields.html", context))
