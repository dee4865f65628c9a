from catalog.models.datasets import Dataset, Field
from catalog.models.departments import Department, DepartmentMembership
from catalog.models.lineage import LineageEdge
from catalog.models.systems import System
from catalog.models.tags import Tag

__all__ = ["Dataset", "Department", "DepartmentMembership", "Field", "LineageEdge", "System", "Tag"]
from catalog.models.object_permissions import (  # noqa: E402
    DatasetGroupObjectPermission,
    DatasetUserObjectPermission,
    FieldGroupObjectPermission,
    FieldUserObjectPermission,
    SystemGroupObjectPermission,
    SystemUserObjectPermission,
)

__all__ += [
    "DatasetGroupObjectPermission", "DatasetUserObjectPermission", "FieldGroupObjectPermission",
    "FieldUserObjectPermission", "SystemGroupObjectPermission", "SystemUserObjectPermission",
]
