/* The data-flow map: systems in three columns (sources, warehouse, receiving tools), the flows between
   them as arrows whose width grows with the datasets they carry. Data: governance.maps.data_flow,
   embedded in the page (json_script) as the viewer may see it. */
(function () {
  "use strict";
  const M = window.AccordMaps;
  const root = document.getElementById("accord-data-flow");
  const canvas = root.querySelector(".accord-map-canvas");
  const flow = JSON.parse(document.getElementById("accord-data-flow-data").textContent);
  const systemUrl = (id) => root.dataset.systemUrl.replace("/0/", "/" + id + "/");
  const STAGES = ["source", "warehouse", "destination"];
  const COLUMN = 360, ROW = 110;

  const departments = new Map();
  flow.flows.forEach((f) => f.departments.forEach((d) => departments.set(d.id, d)));
  M.legend(root.querySelector(".accord-map-legend"), []);  // contract colours only: systems are not a department's

  const rows = {source: 0, warehouse: 0, destination: 0};
  const items = flow.systems.map((s) => {
    const position = {x: STAGES.indexOf(s.stage) * COLUMN, y: rows[s.stage]++ * ROW};
    return {group: "nodes", classes: "system-node", position,
            data: {id: "s" + s.id, system: s.id, name: s.name, stage: s.stage,
                   label: s.name + "\n" + s.datasets + " dataset" + (s.datasets === 1 ? "" : "s")}};
  });
  // Centre each column vertically on the tallest.
  const tallest = Math.max(...Object.values(rows), 1);
  items.forEach((item) => { item.position.y += (tallest - rows[item.data.stage]) * ROW / 2; });
  const most = Math.max(1, ...flow.flows.map((f) => f.source_datasets + f.target_datasets));
  flow.flows.forEach((f) => {
    const mark = M.contractMark(f.contracts);
    const datasets = f.source_datasets + " → " + f.target_datasets + " datasets";
    const who = f.departments.map((d) => d.name).join(", ");
    const label = [datasets, who, f.contracts.map(M.contractLabel).join(", ")].filter(Boolean).join("\n");
    items.push({group: "edges", classes: (mark ? "contract" + (mark.active ? "" : " proposed") : "") +
                (f.reverse_etl ? " reverse-etl" : ""),
                data: {id: "f" + f.source + "-" + f.target, source: "s" + f.source, target: "s" + f.target,
                       colour: mark ? mark.colour : undefined, label,
                       width: 2 + 8 * (f.source_datasets + f.target_datasets) / most,
                       contracts: f.contracts.map((c) => c.name), departments: f.departments.map((d) => d.name)}});
  });
  const style = M.STYLE.concat([
    {selector: "node.system-node", style: {"shape": "round-rectangle", "width": 170, "height": 56,
                                           "background-color": "#eceff1", "border-width": 2, "border-color": "#546e7a",
                                           "text-valign": "center", "text-halign": "center", "font-size": 12}},
    {selector: "node.system-node[stage = 'warehouse']", style: {"background-color": "#e3f2fd", "border-color": "#0072B2"}},
    {selector: "edge", style: {"width": "data(width)", "curve-style": "unbundled-bezier",
                               "control-point-distances": 40, "text-max-width": 220}},
    {selector: "edge.reverse-etl", style: {"line-style": "solid", "target-arrow-shape": "triangle-backcurve"}},
    {selector: "edge.contract", style: {"width": "data(width)"}},
  ]);
  const cy = cytoscape({container: canvas, elements: items, style, layout: {name: "preset", fit: true, padding: 40},
                        wheelSensitivity: 0.3, minZoom: 0.1, maxZoom: 3});
  cy.on("tap", "node", (event) => { window.location.href = systemUrl(event.target.data("system")); });
  root.querySelector("button[name=fit]").addEventListener("click", () => cy.fit(undefined, 40));
  // The admin's sidebar settles the page's width after this runs: fit again when the canvas changes size.
  new ResizeObserver(() => { cy.resize(); cy.fit(undefined, 40); }).observe(canvas);
  window.accordDataFlowMap = cy;
  canvas.dataset.ready = "true";
})();
