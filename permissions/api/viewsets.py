"""The base API views: every read and write starts from what the user may view.

``RestrictedViewSetMixin`` carries the restriction and the reads' cross-cutting work;
``AccordModelViewSet`` adds audited writes and an object's history, and
``AccordReadOnlyModelViewSet`` is the same restriction for endpoints that only read (as
NetBox's ``NetBoxModelViewSet`` and ``NetBoxReadOnlyModelViewSet``). Views that are not
one model's list and detail (search, explain, the API root) derive from
``RestrictedAPIView``. Every view routed under /api/v1/ derives from one of these
(tests/test_meta.py fails otherwise).
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from permissions import audit
from permissions.access import restricted_flag
from permissions.api.history import history_response
from permissions.api.parsers import refuse_malformed_request
from permissions.api.serializers import AuditRecordSerializer
from permissions.deletion import ensure_deletable_by
from permissions.edit import can_change, can_create
from permissions.filtersets import refuse_unknown_params
from permissions.models import AuditAction


class PreconditionFailed(Exception):
    def __init__(self, current: str):
        self.current = current


def negotiate_format(view, request, force: bool = False):
    """DRF's content negotiation, with an unknown ``?format=`` a 400 naming the formats the
    endpoint answers in (DRF answers 404, as if the object were missing)."""
    try:
        return APIView.perform_content_negotiation(view, request, force=force)
    except Http404:
        wanted = request.query_params.get(api_settings.URL_FORMAT_OVERRIDE)
        if wanted is None:
            raise
        formats = sorted({renderer.format for renderer in view.get_renderers()})
        raise ValidationError({api_settings.URL_FORMAT_OVERRIDE: [
            f"Unknown format {wanted[:100]!r}; this endpoint answers in: {', '.join(formats)}."]}) from None


class RestrictedViewSetMixin:
    """Reads over a restricted queryset.

    * ``get_queryset`` narrows the declared queryset to the rows the requesting user
      may view, so list, detail, filters, ordering, pagination and custom actions
      all see the same rows, and a hidden object answers 404 like a missing one.
    * Reads of objects some deny rule restricts are audited.
    * A detail carries an ETag.

    Rows private to a person (``private_to`` on the model: subscriptions, deliveries,
    tokens) are restricted the same way: ``visible_to`` leaves out everybody else's.
    """

    filterset_class = None
    #: Object ids in URLs are ASCII digits: ``²`` or ``١`` would pass ``str.isdigit()`` and
    #: ``null,null`` would reach ``int()``; any other id matches no route (the API's JSON 404).
    lookup_value_regex = "[0-9]+"
    #: Query parameters a list or detail takes besides its filters, the pagination's, the
    #: ordering's and the format's (any other is a 400: ``permissions.filtersets``).
    query_params_accepted: tuple[str, ...] = ()

    #: The annotation telling, row by row, whether some active rule restricts the row
    #: (computed in the list's or detail's own statement; see ``_audit_restricted_reads``).
    RESTRICTED_FLAG = "accord_restricted"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        refuse_malformed_request(request, kwargs)

    def perform_content_negotiation(self, request, force=False):
        return negotiate_format(self, request, force=force)

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action in ("list", "retrieve") and self.request.method in ("GET", "HEAD"):
            flag = restricted_flag(queryset.model)
            if flag is not None:
                queryset = queryset.annotate(**{self.RESTRICTED_FLAG: flag})
        return queryset

    def paginate_queryset(self, queryset):
        self._shown = page = super().paginate_queryset(queryset)
        return page

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        self._audit_restricted_reads([instance])
        response = Response(self.get_serializer(instance).data)
        etag = getattr(instance, "etag", None)
        if etag:
            response["ETag"] = etag
        return response

    def list(self, request, *args, **kwargs):
        self._shown = None
        response = super().list(request, *args, **kwargs)
        if self._shown is not None:
            self._audit_restricted_reads(self._shown)
        else:  # not paginated: the shown rows are those of the answer
            rows = response.data.get("results", []) if isinstance(response.data, dict) else response.data
            self._audit_restricted_reads_by_id([row["id"] for row in rows if isinstance(row, dict) and "id" in row])
        return response

    def _audit_restricted_reads(self, shown) -> None:
        """Audit the shown objects that some rule restricts: from the flag their own statement
        computed when it is there, otherwise with one statement over their ids."""
        unknown = object()
        flagged = [(obj.pk, getattr(obj, self.RESTRICTED_FLAG, unknown)) for obj in shown]
        if any(flag is unknown for _, flag in flagged):
            self._audit_restricted_reads_by_id([key for key, _ in flagged])
        else:
            self._record_restricted_read(sorted(key for key, flag in flagged if flag))

    def _audit_restricted_reads_by_id(self, ids: list) -> None:
        if not ids:
            return
        model = self.queryset.model
        flag = restricted_flag(model)
        if flag is None:
            return  # no active rule can restrict this model
        self._record_restricted_read(sorted(
            model._base_manager.filter(pk__in=ids).filter(flag).values_list("pk", flat=True)))

    def _record_restricted_read(self, restricted: list) -> None:
        if restricted:
            audit.record_event(
                AuditAction.READ_RESTRICTED, object_type=self.queryset.model._meta.label_lower,
                object_id=str(restricted[0]) if len(restricted) == 1 else "",
                details={"ids": restricted, "path": self.request.path},
            )


class ObjectHistoryMixin:
    """``…/{id}/history/``: the object's audit records (and its visible children's)."""

    @extend_schema(summary="The audit history of this object (and its children)", filters=False,
                   responses=AuditRecordSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None, ordering_fields=["seq"])
    def history(self, request, pk=None):
        # Looked up without the list's filters and ordering, which concern this
        # model's rows, not audit records.
        instance = get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(request, instance)
        return history_response(self, instance)


class AccordReadOnlyModelViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """List and detail over a restricted queryset (``RestrictedViewSetMixin``), no writes."""


class AccordModelViewSet(RestrictedViewSetMixin, ObjectHistoryMixin, viewsets.ModelViewSet):
    """CRUD over a restricted queryset (``RestrictedViewSetMixin``), and the object's history.

    * Writes are atomic and audited as one record per object (``audit.batch``).
      After a create or update the row is read back through the restricted
      queryset inside the same transaction and the user's right to change it is
      checked again; if either fails the write is rolled back (403).
    * Responses carry an ETag; PUT, PATCH and DELETE honour ``If-Match`` (412).
    """

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not can_create(request.user, self.queryset.model, serializer.validated_data):
            raise PermissionDenied("You do not have permission to create this object here.")
        self.perform_create(serializer)
        # Read back through the restricted queryset: the answer shows what the caller
        # may see (a related object hidden from them is left out) and nothing more.
        fresh = self.get_queryset().get(pk=serializer.instance.pk)
        response = Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)
        response["ETag"] = fresh.etag
        return response

    def update(self, request, *args, **kwargs):
        with transaction.atomic():
            self._check_if_match(self._locked(self.get_object()))
            super().update(request, *args, **kwargs)
            fresh = self.get_queryset().get(pk=kwargs[self.lookup_field])
            response = Response(self.get_serializer(fresh).data)
            response["ETag"] = fresh.etag
        return response

    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            instance = self.get_object()
            self._check_if_match(self._locked(instance))
            self.perform_destroy(instance)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _locked(instance):
        """The row as stored, locked until the write commits, so two writers holding
        the same ETag cannot both pass the If-Match check."""
        return type(instance)._base_manager.select_for_update().get(pk=instance.pk)

    def perform_create(self, serializer) -> None:
        with transaction.atomic(), audit.batch():
            instance = serializer.save()
            self._ensure_still_in_reach(instance)

    def perform_update(self, serializer) -> None:
        with transaction.atomic(), audit.batch():
            instance = serializer.save()
            self._ensure_still_in_reach(instance)

    def perform_destroy(self, instance) -> None:
        ensure_deletable_by([instance], self.request.user)
        with transaction.atomic(), audit.batch():
            instance.delete()

    def _ensure_still_in_reach(self, instance) -> None:
        fresh = self.get_queryset().filter(pk=instance.pk).first()
        if fresh is None or not can_change(self.request.user, fresh):
            raise PermissionDenied(
                "After this change you could no longer see or change the object, so it was not saved."
            )

    def _check_if_match(self, instance) -> None:
        wanted = self.request.headers.get("If-Match")
        if wanted and wanted.strip() != "*" and instance.etag not in [tag.strip() for tag in wanted.split(",")]:
            raise PreconditionFailed(instance.etag)


class RestrictedAPIView(APIView):
    """The base of API views that are not one model's list and detail (search, explain,
    the API root). Whatever rows they read come from ``visible_to(request.user)``:
    ``self.visible(Model)``, or a function given the user that reads them that way
    (``catalog.search.search``). A query parameter not in ``query_params_accepted`` (or
    the format's) is a 400 naming it, as on the lists."""

    query_params_accepted: tuple[str, ...] = ()

    def perform_content_negotiation(self, request, force=False):
        return negotiate_format(self, request, force=force)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated and allowed first
        refuse_malformed_request(request, kwargs)
        refuse_unknown_params(request, {*self.query_params_accepted, api_settings.URL_FORMAT_OVERRIDE})

    def visible(self, model):
        """The rows of ``model`` the requesting user may view."""
        return model._default_manager.visible_to(self.request.user)
