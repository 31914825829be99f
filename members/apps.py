from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from config.roles import roles_sync

        # Keeps the staff groups in step with the permission table; this is
        # set-up of the database, not business logic.
        post_migrate.connect(roles_sync, sender=self)
