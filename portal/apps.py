from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The borrower's pages, which gather what every app knows of them."""

    name = "portal"
    verbose_name = _("Borrower pages")
