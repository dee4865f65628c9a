"""django-guardian object permissions with direct foreign keys (fast joins, real
integrity) for the objects that have owners: datasets, fields and systems."""

from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class DatasetUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE)


class DatasetGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE)


class FieldUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey("catalog.Field", on_delete=models.CASCADE)


class FieldGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey("catalog.Field", on_delete=models.CASCADE)


class SystemUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey("catalog.System", on_delete=models.CASCADE)


class SystemGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey("catalog.System", on_delete=models.CASCADE)
