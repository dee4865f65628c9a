/* The lineage map of a dataset or a field: reads /api/v1/…/lineage-graph/ (what the viewer may see,
   nothing else), draws datasets coloured by department inside their systems (compound nodes) with
   dagre's layered layout, left to right. Tap a system to collapse or expand it, a dataset to open it;
   drag to pan, scroll to zoom. */
(function () {
  "use strict";
  const M = window.AccordMaps;
  const root = document.getElementById("accord-lineage-map");
  const canvas = root.querySelector(".accord-map-canvas");
  const status = root.querySelector(".accord-map-status");
  const depth = root.querySelector("select[name=depth]");
  const fields = root.querySelector("input[name=fields]");
  const datasetUrl = (id) => root.dataset.datasetUrl.replace("/0/", "/" + id + "/");
  const collapsed = new Set();
  let graph = null;
  cytoscape.use(cytoscapeDagre);

  function elements() {
    const systemOf = new Map(graph.nodes.map((n) => [n.id, n.system]));
    const end = (id) => (collapsed.has(systemOf.get(id)) ? "s" + systemOf.get(id) : "d" + id);
    const items = [];
    graph.systems.forEach((s) => {
      const count = graph.nodes.filter((n) => n.system === s.id).length;
      const shut = collapsed.has(s.id);
      items.push({group: "nodes", classes: "system" + (shut ? " collapsed" : ""),
                  data: {id: "s" + s.id, system: s.id, name: s.name,
                         label: shut ? s.name + " (" + count + " dataset" + (count === 1 ? "" : "s") + ")" : s.name}});
    });
    graph.nodes.forEach((n) => {
      if (collapsed.has(n.system)) return;
      items.push({group: "nodes", classes: "dataset" + (n.level === 0 ? " root" : ""),
                  data: {id: "d" + n.id, dataset: n.id, parent: "s" + n.system, name: n.name,
                         qualified_name: n.qualified_name, level: n.level, department: n.department,
                         colour: M.departmentColour(n.department), label: n.name + "\n" + n.qualified_name}});
    });
    const seen = new Set();
    graph.edges.forEach((e) => {
      const source = end(e.source), target = end(e.target), key = source + ">" + target;
      if (source === target || seen.has(key)) return;
      seen.add(key);
      const mark = M.contractMark(e.contracts);
      items.push({group: "edges", classes: mark ? "contract" + (mark.active ? "" : " proposed") : "",
                  data: {id: "e" + key, source, target, colour: mark ? mark.colour : undefined,
                         contracts: (e.contracts || []).map((c) => c.name),
                         label: (e.contracts || []).map(M.contractLabel).join("\n")}});
    });
    graph.field_edges.forEach((f) => {
      const source = end(f.source), target = end(f.target);
      if (source === target) return;
      items.push({group: "edges", classes: "field",
                  data: {id: "f" + f.id, source, target,
                         label: f.source_field.name + " → " + f.target_field.name}});
    });
    return items;
  }

  function listDatasets() {
    const list = root.querySelector(".accord-map-datasets");
    list.replaceChildren();
    graph.nodes.forEach((n) => {
      const item = M.el("li");
      const system = graph.systems.find((s) => s.id === n.system);
      const link = M.el("a", {href: datasetUrl(n.id)}, n.qualified_name);
      const where = n.level === 0 ? "this dataset" : (n.level < 0 ? -n.level + " up" : n.level + " down");
      item.append(link, document.createTextNode(" — " + n.name + ", " + system.name + " (" + where + ")"));
      list.append(item);
    });
  }

  function draw() {
    if (window.accordLineageMap) window.accordLineageMap.destroy();
    const cy = cytoscape({container: canvas, elements: elements(), style: M.STYLE, wheelSensitivity: 0.3,
                          minZoom: 0.1, maxZoom: 3});
    cy.layout({name: "dagre", rankDir: "LR", nodeSep: 20, rankSep: 90, fit: true, padding: 20,
               animate: false}).run();
    cy.on("tap", "node.system", (event) => {
      const id = event.target.data("system");
      if (collapsed.has(id)) collapsed.delete(id); else collapsed.add(id);
      draw();
    });
    cy.on("tap", "node.dataset", (event) => { window.location.href = datasetUrl(event.target.data("dataset")); });
    window.accordLineageMap = cy;
    canvas.dataset.ready = "true";
  }

  async function load() {
    canvas.dataset.ready = "false";
    const params = new URLSearchParams({depth: depth.value});
    if (fields && fields.checked) params.set("fields", "true");
    status.textContent = "Loading…";
    const response = await fetch(root.dataset.api + "?" + params, {headers: {Accept: "application/json"},
                                                                     credentials: "same-origin"});
    if (!response.ok) {
      status.textContent = "The map could not be loaded (HTTP " + response.status + ").";
      return;
    }
    graph = await response.json();
    const count = graph.nodes.length;
    status.textContent = count + " dataset" + (count === 1 ? "" : "s") + " in " + graph.systems.length +
      " system" + (graph.systems.length === 1 ? "" : "s") + ", " + graph.edges.length + " flow" +
      (graph.edges.length === 1 ? "" : "s") + (graph.field_edges.length ? ", " + graph.field_edges.length +
      " field mapping" + (graph.field_edges.length === 1 ? "" : "s") : "") +
      (graph.truncated ? " — the map was cut short at its size limit; choose a smaller depth." : ".");
    M.legend(root.querySelector(".accord-map-legend"), graph.departments);
    listDatasets();
    draw();
  }

  // The admin's sidebar settles the page's width after the first drawing: fit again when the canvas changes size.
  new ResizeObserver(() => {
    if (window.accordLineageMap) { window.accordLineageMap.resize(); window.accordLineageMap.fit(undefined, 20); }
  }).observe(canvas);
  depth.addEventListener("change", load);
  if (fields) fields.addEventListener("change", load);
  root.querySelector("button[name=fit]").addEventListener("click", () => window.accordLineageMap.fit(undefined, 20));
  load();
})();
