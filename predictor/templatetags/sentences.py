"""The space between two sentences a template puts side by side: one in English, none in Chinese."""

from django import template

from predictor.schema import wording

register = template.Library()
register.simple_tag(wording.sentence_gap, name="sentence_gap")
