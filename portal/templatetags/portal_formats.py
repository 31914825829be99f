"""`{{ day|local_date }}` and `{{ rate|percent }}` for the borrower pages."""

from django import template

from portal.formats import local_date, percent

register = template.Library()
register.filter("local_date", local_date)
register.filter("percent", percent)
