from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Project-wide commands (translations, demo data); no models."""

    name = "config"
    verbose_name = "Project"
