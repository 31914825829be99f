"""`{{ amount|yuan }}` shows money as ¥1,234.56 in every language."""

from django import template

from config.money import yuan

register = template.Library()
register.filter("yuan", yuan)
