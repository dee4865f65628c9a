from rest_framework.pagination import CursorPagination


class AccordCursorPagination(CursorPagination):
    """Cursor pagination: stable under concurrent inserts and constant-time on deep pages.

    The ordering comes from the request's ``ordering`` parameter (an allowed field),
    falling back to the viewset's ``ordering``; the primary key breaks ties.
    """

    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view))
        if not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering.append("-id" if ordering and ordering[0].startswith("-") else "id")
        return tuple(ordering)


class AuditCursorPagination(CursorPagination):
    """Newest audit records first, by their place in the chain, whatever the view orders by."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-seq"

    def get_ordering(self, request, queryset, view):
        return (self.ordering,)
