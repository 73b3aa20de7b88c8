"""The current request's id, for error pages rendered without a request context (500.html, 503_database.html)."""

from django import template

from predictor.ops import request_id as request_ids

register = template.Library()


@register.simple_tag
def request_id() -> str:
    return request_ids.current()
