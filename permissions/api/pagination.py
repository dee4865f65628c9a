from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class StrictCursorPagination(CursorPagination):
    """DRF's cursor pagination, refusing what it would take silently or fail on.

    * ``page_size`` that is not a whole number from 1 to ``max_page_size`` is a 400 (DRF
      falls back to the default size); an empty one means the default.
    * A cursor that does not decode, or whose position is not a value of the ordering's
      field (a crafted ``p=abc`` on an integer ordering would reach the database), is a 400.
    """

    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        given = request.query_params.get(self.page_size_query_param, "")
        if given == "":
            return self.page_size
        if not (given.isascii() and given.isdigit() and 1 <= int(given) <= self.max_page_size):
            raise ValidationError({self.page_size_query_param: [
                f"Give a whole number from 1 to {self.max_page_size}."]})
        return int(given)

    def decode_cursor(self, request):
        if not request.query_params.get(self.cursor_query_param):
            return None
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise self._invalid() from exc
        if cursor.position is not None:
            field = self._ordering_field()
            if field is not None:
                try:
                    field.to_python(cursor.position)
                except (DjangoValidationError, ValueError, TypeError) as exc:
                    raise self._invalid() from exc
        return cursor

    def _ordering_field(self):
        model, field = self.model, None
        for part in self.ordering[0].lstrip("-").split("__"):
            if model is None:
                return None
            try:
                field = model._meta.get_field("id" if part == "pk" else part)
            except FieldDoesNotExist:
                return None  # an annotation: the database compares it
            model = field.related_model
        return field

    def _invalid(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: [
            "Not a cursor of this list: follow the next and previous links as they are given."]})

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class AccordCursorPagination(StrictCursorPagination):
    """Cursor pagination: stable under concurrent inserts and constant-time on deep pages.

    The ordering comes from the request's ``ordering`` parameter (an allowed field),
    falling back to the viewset's ``ordering``; the primary key breaks ties.
    """

    ordering = "-id"

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view))
        if not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering.append("-id" if ordering and ordering[0].startswith("-") else "id")
        return tuple(ordering)


class AuditCursorPagination(StrictCursorPagination):
    """Newest audit records first, by their place in the chain, whatever the view orders by."""

    page_size = 50
    ordering = "-seq"

    def get_ordering(self, request, queryset, view):
        return (self.ordering,)
