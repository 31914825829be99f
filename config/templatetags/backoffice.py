"""`{% staff_today as today %}`: the admin index's list of today's work."""

from django import template
from django.template.context import Context

from config.backoffice import Today, today_for
from config.permissions import request_staff
from loans.selectors import business_date_current

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_today(context: Context) -> Today:
    return today_for(request_staff(context["request"]), business_date_current())
