"""The data-flow map's admin page (linked from the admin home): systems and the flows between them,
from the sources through the warehouse to the tools that receive reverse ETL, as the viewer may see
them (governance.maps.data_flow)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from governance.maps import STAGES, data_flow
from permissions.visibility import can_read_catalog


class DataFlowAdminMixin:
    """Adds ``data-flow/`` (``admin:governance_data_flow``) to the contracts' admin."""

    def get_urls(self):
        return [path("data-flow/", self.admin_site.admin_view(self.data_flow_view), name="governance_data_flow"),
                *super().get_urls()]

    def data_flow_view(self, request):
        # Anyone in the admin reads the catalog's lineage; what they may not see is left out of the data.
        if not can_read_catalog(request.user):
            raise PermissionDenied
        flow = data_flow(request.user)
        names = {system["id"]: system["name"] for system in flow["systems"]}
        rows = [{**item, "source_name": names.get(item["source"], ""), "target_name": names.get(item["target"], "")}
                for item in flow["flows"]]
        context = {**self.admin_site.each_context(request), "title": "Data-flow map", "opts": self.opts,
                   "flow": flow, "rows": rows, "stages": STAGES}
        return TemplateResponse(request, "admin/governance/data_flow.html", context)
