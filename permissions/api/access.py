from rest_framework.permissions import SAFE_METHODS, BasePermission

from permissions.edit import can_change
from permissions.visibility import can_read_catalog


class CatalogAccess(BasePermission):
    """Reading needs an active account (opt-out rules then narrow the rows).

    Changing is opt-in (``permissions.edit``): updates and deletes are decided per
    object; creation is decided by the viewset once the payload is validated,
    because a steward's right to add a field depends on the dataset it names.
    """

    message = "You do not have permission to change this object."

    def has_permission(self, request, view) -> bool:
        return can_read_catalog(request.user)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        if getattr(view, "action", None) not in ("update", "partial_update", "destroy"):
            # Workflow actions (approve, sign, propose…) are decided by their service,
            # which knows who may act (the council, a department's lead) and says why.
            return True
        action = "delete" if request.method == "DELETE" else "change"
        return can_change(request.user, obj, action)


class ModelPermissionRequired(BasePermission):
    """For endpoints that are not opt-out catalog reads (rules, the audit log):
    reading needs the model's view permission, writing the add/change/delete one."""

    actions = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add", "PUT": "change",
               "PATCH": "change", "DELETE": "delete"}

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not can_read_catalog(user):
            return False
        model = view.queryset.model
        action = self.actions.get(request.method, "change")
        return user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")
