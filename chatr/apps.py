from django.contrib.admin.apps import AdminConfig


class ChatrAdminConfig(AdminConfig):
    """``django.contrib.admin`` with chatr's site (login failures limited per IP) as ``admin.site``."""

    default_site = "chatr.admin.ChatrAdminSite"
