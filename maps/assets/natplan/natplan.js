/* natplan coverage map runtime: builds Leaflet layers from the compact data made by
 * maps/layers.py. Defines functions only (no use of L at load time), so it can be placed
 * anywhere in the page. Exposes window.natplan = {map, layers, names, counts(), make}.
 * Every string in that data (names, ids, labels, panel HTML) is already HTML-escaped by
 * Python: concatenate it into popups and tooltips as it is, never unescape it. */
(function () {
  "use strict";
  var NP = (window.natplan = window.natplan || {});
  NP.layers = NP.layers || {};
  NP.names = NP.names || {};
  NP.labels = NP.labels || {};
  NP.stopLabelZoom = 17; /* route stops get permanent number labels from this zoom on */

  function canvas() {
    if (!NP._canvas) NP._canvas = L.canvas({ padding: 0.5, tolerance: 3 });
    return NP._canvas;
  }

  /* Keep popups clear of the KPI panel (top left) and the layer control (top right). */
  NP.popupOptions = { maxWidth: 320, autoPanPaddingTopLeft: [190, 20], autoPanPaddingBottomRight: [200, 20] };

  function table(rows) {
    var h = "<table class='np-tbl'>";
    for (var i = 0; i < rows.length; i++) {
      h += "<tr><th>" + rows[i][0] + "</th><td>" + rows[i][1] + "</td></tr>";
    }
    return h + "</table>";
  }

  NP.make = {
    points: function (d) {
      var g = L.featureGroup();
      for (var i = 0; i < d.lat.length; i++) {
        L.circleMarker([d.lat[i], d.lon[i]], {
          radius: d.r[i], color: d.edge[i], weight: 2.5, fillColor: d.fill[i],
          fillOpacity: 0.95, className: "np-point"
        }).bindPopup(d.popup[i], NP.popupOptions).bindTooltip(d.tip[i]).addTo(g);
      }
      return g;
    },
    closed: function (d) {
      var g = L.featureGroup();
      for (var i = 0; i < d.lat.length; i++) {
        L.circleMarker([d.lat[i], d.lon[i]], {
          radius: 3, color: "#9e9e9e", weight: 1, opacity: 0.6, fillOpacity: 0.15,
          className: "np-closed"
        }).bindTooltip(d.tip[i]).addTo(g);
      }
      return g;
    },
    buildings: function (d) {
      var g = L.featureGroup(), r = canvas(), lab = NP.labels;
      for (var i = 0; i < d.lat.length; i++) {
        var m = L.circleMarker([d.lat[i], d.lon[i]], {
          renderer: r, radius: 3.5, stroke: false, fillColor: d.ptColour[d.pt[i]],
          fillOpacity: 0.85
        });
        m._npIndex = i;
        g.addLayer(m);
      }
      g.on("click", function (e) {
        var i = e.layer._npIndex, p = d.pt[i];
        var walk = d.walk[i] === null ? "–" : d.walk[i] + " " + lab.metres;
        var html = "<b>" + lab.building + " " + d.id[i] + "</b>" + table([
          [lab.grid, d.grid[i]], [lab.residents, d.res[i]],
          [lab.point, "<span class='np-swatch' style='background:" + d.ptColour[p] + "'></span>" +
            d.ptName[p]],
          [lab.walk_m, walk]
        ]);
        L.popup(NP.popupOptions).setLatLng(e.latlng).setContent(html).openOn(NP.map);
      });
      return g;
    },
    unserved: function (d) {
      /* SVG (one DOM path each) unless there are very many; then the shared canvas. */
      var g = L.featureGroup(), r = d.lat.length > 2000 ? canvas() : undefined;
      for (var i = 0; i < d.lat.length; i++) {
        L.circleMarker([d.lat[i], d.lon[i]], {
          renderer: r, radius: 5, color: "#d62728", weight: 2.5, fillColor: "#000",
          fillOpacity: 0.9, className: "np-unserved"
        }).bindTooltip(d.tip[i]).addTo(g);
      }
      return g;
    },
    catchments: function (d) {
      var g = L.featureGroup();
      for (var i = 0; i < d.length; i++) {
        L.polygon(d[i].ring, {
          color: d[i].colour, weight: 2, opacity: 0.9, fill: false, className: "np-catchment"
        }).bindTooltip(d[i].tip, { sticky: true }).addTo(g);
      }
      return g;
    },
    walk: function (d) {
      var g = L.featureGroup();
      for (var i = 0; i < d.lat.length; i++) {
        L.circle([d.lat[i], d.lon[i]], {
          radius: d.radius, color: "#2166ac", weight: 1, opacity: 0.7, dashArray: "4 4",
          fill: false, interactive: false, className: "np-walk"
        }).addTo(g);
      }
      return g;
    },
    grids: function (d) {
      var g = L.featureGroup();
      for (var i = 0; i < d.length; i++) {
        L.polygon(d[i].ring, {
          color: "#444", weight: 1.5, opacity: 0.8, dashArray: "6 4", fill: false,
          className: "np-grid"
        }).bindTooltip(d[i].tip, { sticky: true }).addTo(g);
      }
      return g;
    },
    routes: function (d) {
      var g = L.featureGroup(), r = canvas(), lab = NP.labels, stops = [];
      for (var i = 0; i < d.length; i++) {
        var t = d[i];
        L.polyline(t.line, {
          color: t.colour, weight: 3, opacity: 0.9, className: "np-route"
        }).bindTooltip(t.team, { sticky: true }).addTo(g);
        for (var j = 0; j < t.stops.length; j++) {
          var s = t.stops[j], first = s[2] === 0;
          var m = L.circleMarker([s[0], s[1]], {
            renderer: r, radius: first ? 6 : 4, color: t.colour, weight: 2,
            fillColor: first ? t.colour : "#fff", fillOpacity: 1
          }).bindTooltip(t.team + " · " + (first ? lab.origin : lab.stop + " " + s[2]) +
            (s[3] ? " · " + lab.household + " " + s[3] : ""));
          m._npLabel = first ? lab.origin : String(s[2]);
          stops.push(m);
          g.addLayer(m);
        }
      }
      g._npStops = stops;
      NP._routeLabels(g);
      return g;
    },
    heat: function (d) {
      /* Wrapped in a group: leaflet.heat's maxZoom is an intensity setting, but the layer
       * control would grey the layer out above it. */
      var heat = L.heatLayer(d.pts, { radius: 18, blur: 16, max: d.max, maxZoom: 16, minOpacity: 0.25 });
      var g = L.layerGroup([heat]);
      g._npHeat = heat;
      return g;
    }
  };

  /* Number the visible stops of the routes layer once zoomed in (at most 400 labels). */
  NP._routeLabels = function (g) {
    var labels = L.layerGroup();
    function update() {
      labels.clearLayers();
      var map = NP.map;
      if (!map || !map.hasLayer(g) || map.getZoom() < NP.stopLabelZoom) return;
      var b = map.getBounds(), n = 0;
      for (var i = 0; i < g._npStops.length && n < 400; i++) {
        var s = g._npStops[i];
        if (!b.contains(s.getLatLng())) continue;
        labels.addLayer(L.tooltip({
          permanent: true, direction: "right", offset: [4, 0], className: "np-stop-label"
        }).setLatLng(s.getLatLng()).setContent(s._npLabel));
        n++;
      }
    }
    g.on("add", function () {
      if (!NP.map) return;
      labels.addTo(NP.map);
      NP.map.on("zoomend moveend", update);
      update();
    });
    g.on("remove", function () {
      if (!NP.map) return;
      NP.map.off("zoomend moveend", update);
      labels.remove();
    });
  };

  NP.register = function (key, layer, name) {
    NP.layers[key] = layer;
    NP.names[key] = name;
  };

  function size(layer) {
    return layer && layer.getLayers ? layer.getLayers().length : 0;
  }

  /* Feature counts per layer, for tests and for the curious user (window.natplan.counts()). */
  NP.counts = function () {
    var L_ = NP.layers, c = {};
    for (var k in L_) {
      if (!Object.prototype.hasOwnProperty.call(L_, k)) continue;
      if (k === "heat") c.heat = L_.heat._npHeat._latlngs.length;
      else if (k === "routes") {
        c.routes = L_.routes.getLayers().filter(function (l) { return l instanceof L.Polyline; }).length;
        c.stops = L_.routes._npStops.length;
      } else c[k] = size(L_[k]);
    }
    return c;
  };

  NP.control = function (map, html, position, cls) {
    var ctl = L.control({ position: position });
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "np-panel " + cls);
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    ctl.addTo(map);
    return ctl;
  };

  NP.init = function (map, labels) {
    NP.map = map;
    NP.labels = labels;
  };

  NP.finish = function (map, opts) {
    NP.control(map, opts.kpiHtml, "topleft", "np-kpi");
    NP.control(map, opts.legendHtml, "bottomleft", "np-legend");
    if (opts.attributionHtml && map.attributionControl) {
      map.attributionControl.addAttribution(opts.attributionHtml);
    }
    NP.ready = true;
  };
})();
