/* What both maps share: department colours, contract marks and the look of the graph.
   Drawn with Cytoscape.js (accord/vendor/cytoscape.min.js, built by scripts/build_js.sh). */
(function () {
  "use strict";
  // Colour-blind-friendly palette (Okabe-Ito, then Tableau's), picked by department id.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
                   "#4E79A7", "#59A14F", "#B07AA1", "#9C755F", "#EDC948"];
  const NO_DEPARTMENT = "#9e9e9e";
  // A contract's compliance, worst first.
  const COMPLIANCE = {failing: "#c62828", error: "#ef6c00", unknown: "#607d8b", compliant: "#2e7d32"};

  function departmentColour(id) {
    return id === null || id === undefined ? NO_DEPARTMENT : PALETTE[id % PALETTE.length];
  }

  // The mark an edge gets from the contracts covering it: the worst compliance; dashed when none of
  // them has an active version.
  function contractMark(contracts) {
    if (!contracts || !contracts.length) return null;
    const order = Object.keys(COMPLIANCE);
    const worst = contracts.map((c) => c.compliance).sort((a, b) => order.indexOf(a) - order.indexOf(b))[0];
    return {colour: COMPLIANCE[worst] || COMPLIANCE.unknown, compliance: worst,
            active: contracts.some((c) => c.status === "active")};
  }

  function contractLabel(contract) {
    return contract.name + " (" + contract.status + ", " + contract.compliance + ")";
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => node.setAttribute(key, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The legend: a swatch per department and per contract compliance.
  function legend(container, departments) {
    container.replaceChildren();
    const list = el("ul", {class: "accord-legend"});
    departments.forEach((d) => {
      const item = el("li", {"data-department": d.id});
      const swatch = el("span", {class: "accord-swatch"});
      swatch.style.background = departmentColour(d.id);
      item.append(swatch, document.createTextNode(d.name));
      list.append(item);
    });
    Object.entries(COMPLIANCE).forEach(([name, colour]) => {
      const item = el("li", {class: "accord-legend-contract"});
      const swatch = el("span", {class: "accord-swatch accord-swatch-line"});
      swatch.style.background = colour;
      item.append(swatch, document.createTextNode("contract " + name));
      list.append(item);
    });
    container.append(list);
  }

  const STYLE = [
    {selector: "node", style: {"label": "data(label)", "font-size": 11, "text-wrap": "wrap",
                               "text-max-width": 160, "color": "#222"}},
    {selector: "node.dataset", style: {"shape": "round-rectangle", "width": 150, "height": 38,
                                       "background-color": "data(colour)", "text-valign": "center",
                                       "text-halign": "center", "color": "#fff", "text-outline-width": 1,
                                       "text-outline-color": "data(colour)", "font-size": 10}},
    {selector: "node.root", style: {"border-width": 4, "border-color": "#222"}},
    {selector: "node.system, node:parent", style: {"shape": "round-rectangle", "background-color": "#f4f6f8",
                                       "background-opacity": 1, "border-width": 1, "border-color": "#90a4ae",
                                       "text-valign": "top", "text-halign": "center", "font-weight": "bold",
                                       "padding": 12}},
    {selector: "node.collapsed", style: {"width": 160, "height": 44, "text-valign": "center",
                                         "background-color": "#cfd8dc", "border-style": "double", "border-width": 4}},
    {selector: "edge", style: {"width": 2, "line-color": "#90a4ae", "target-arrow-color": "#90a4ae",
                               "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(label)",
                               "font-size": 9, "text-wrap": "wrap", "text-background-color": "#fff",
                               "text-background-opacity": 0.85, "text-background-padding": 2}},
    {selector: "edge.contract", style: {"width": 4, "line-color": "data(colour)", "target-arrow-color": "data(colour)"}},
    {selector: "edge.proposed", style: {"line-style": "dashed"}},
    {selector: "edge.field", style: {"width": 1, "line-style": "dotted", "line-color": "#6d4c41",
                                     "target-arrow-color": "#6d4c41", "color": "#6d4c41"}},
  ];

  window.AccordMaps = {departmentColour, contractMark, contractLabel, legend, el, STYLE, COMPLIANCE};
})();
