from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions

from permissions.visibility import can_read_catalog


class CatalogAccess(BasePermission):
    """Reading needs an active account (opt-out visibility narrows the rows);
    changing needs the model permission for the action (add / change / delete)."""

    message = "You do not have permission to change this kind of object."
    _model_perms = DjangoModelPermissions()

    def has_permission(self, request, view) -> bool:
        if not can_read_catalog(request.user):
            return False
        if request.method in SAFE_METHODS:
            return True
        if getattr(view, "queryset", None) is None:
            return True
        return self._model_perms.has_permission(request, view)
