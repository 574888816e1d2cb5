/* natplan coverage map runtime: builds Leaflet layers from the compact data made by
 * maps/layers.py. Defines functions only (no use of L at load time), so it can be placed
 * anywhere in the page. Exposes window.natplan = {map, layers, names, counts(), make}.
 * Every string in that data (names, ids, labels, links, panel HTML) is already HTML-escaped
 * by Python: concatenate it into popups and tooltips as it is, never unescape it. */
(function () {
  "use strict";
  var NP = (window.natplan = window.natplan || {});
  NP.layers = NP.layers || {};
  NP.names = NP.names || {};
  NP.labels = NP.labels || {};
  NP.stopLabelZoom = 17; /* route stops get permanent number labels from this zoom on */
  NP.pointLabelZoom = 13; /* point names from this zoom on, where they do not overlap */
  NP.outlineZoom = 14; /* building outlines from this zoom on (a few pixels a building) */

  function canvas() {
    if (!NP._canvas) NP._canvas = L.canvas({ padding: 0.5, tolerance: 3 });
    return NP._canvas;
  }

  /* Keep popups clear of the KPI panel (top left) and the layer control (top right). */
  NP.popupOptions = { maxWidth: 320, autoPanPaddingTopLeft: [190, 20], autoPanPaddingBottomRight: [200, 20] };

  function table(rows) {
    var h = "<table class='np-tbl'>";
    for (var i = 0; i < rows.length; i++) {
      if (rows[i][1] === "" || rows[i][1] === null) continue;
      h += "<tr><th>" + rows[i][0] + "</th><td>" + rows[i][1] + "</td></tr>";
    }
    return h + "</table>";
  }

  function link(href, text) {
    return href ? "<div class='np-link'><a href='" + href + "'>" + text + " ›</a></div>" : "";
  }

  /* Rough width in pixels of a label's text (CJK characters are about twice as wide). */
  function textWidth(html) {
    var text = html.replace(/&[a-z#0-9]+;/gi, "_"), w = 8;
    for (var i = 0; i < text.length; i++) w += text.charCodeAt(i) > 0x2e7f ? 11 : 6.5;
    return w;
  }

  /* Permanent labels (`_npLabel`) for the visible members of `markers` while `ok(zoom)` holds;
   * with `spaced`, a label is left out where it would overlap one already placed (markers
   * come largest first), so names never pile up however far the map is zoomed out. */
  function viewLabels(g, markers, ok, cls, direction, spaced) {
    var labels = L.layerGroup();
    function update() {
      labels.clearLayers();
      var map = NP.map;
      if (!map || !map.hasLayer(g) || !ok(map.getZoom())) return;
      var b = map.getBounds(), boxes = [];
      for (var i = 0; i < markers.length && boxes.length < 300; i++) {
        var m = markers[i], ll = m.getLatLng();
        if (!b.contains(ll)) continue;
        if (spaced) {
          var c = map.latLngToContainerPoint(ll), w = textWidth(m._npLabel), r = m.getRadius();
          var box = [c.x - w / 2, c.y - r - 22, c.x + w / 2, c.y - r - 4], clash = false;
          for (var k = 0; k < boxes.length && !clash; k++) {
            var o = boxes[k];
            clash = box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3];
          }
          if (clash) continue;
          boxes.push(box);
        } else boxes.push(null);
        labels.addLayer(L.tooltip({
          permanent: true, direction: direction, interactive: false, className: cls,
          offset: direction === "right" ? [4, 0] : [0, -m.getRadius() - 2]
        }).setLatLng(ll).setContent(m._npLabel));
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
    g._npLabels = labels;
  }

  NP.make = {
    base: function (d) {
      /* Streets and building outlines, [kind, lat0, lon0, dlat, dlon, ...] in 1e-5 degree,
       * painted straight onto one canvas (a Leaflet canvas renderer with its own _draw):
       * tens of thousands of ways, no Leaflet object each. Projected once at zoom 0. */
      var n = d.ways.length, xy = [], box = [], map = NP.map;
      for (var i = 0; i < n; i++) {
        var w = d.ways[i], lat = w[1], lon = w[2], pts = new Float64Array(w.length - 1);
        var b = [Infinity, Infinity, -Infinity, -Infinity];
        for (var k = 1, j = 0; k + 1 < w.length; k += 2, j += 2) {
          if (k > 1) { lat += w[k]; lon += w[k + 1]; }
          var p = map.project([lat / 1e5, lon / 1e5], 0);
          pts[j] = p.x; pts[j + 1] = p.y;
          b[0] = Math.min(b[0], p.x); b[1] = Math.min(b[1], p.y);
          b[2] = Math.max(b[2], p.x); b[3] = Math.max(b[3], p.y);
        }
        xy.push(pts);
        box.push(b);
      }
      var style = [ /* kind: main road, street, footpath, building outline */
        { stroke: "#b3ab9b", width: 3 }, { stroke: "#cbc4b6", width: 1.6 },
        { stroke: "#b9b2a4", width: 1, dash: [3, 3] },
        { stroke: "#c9c2b4", width: 0.6, fill: "#e4dfd5" }
      ];
      var Painter = L.Canvas.extend({
        _draw: function () {
          var ctx = this._ctx, m = this._map, s = m.getZoomScale(m.getZoom(), 0);
          var o = m.getPixelOrigin(), v = this._bounds;
          if (!ctx || !v) return;
          var x0 = (v.min.x + o.x) / s, y0 = (v.min.y + o.y) / s;
          var x1 = (v.max.x + o.x) / s, y1 = (v.max.y + o.y) / s;
          for (var kind = 3; kind >= 0; kind--) { /* outlines first, main roads on top */
            if (kind === 3 && m.getZoom() < NP.outlineZoom) continue;
            var st = style[kind];
            ctx.setLineDash(st.dash || []);
            ctx.lineWidth = st.width;
            ctx.strokeStyle = st.stroke;
            ctx.fillStyle = st.fill || "";
            for (var i = 0; i < n; i++) {
              var b = box[i], pts = xy[i];
              if (d.ways[i][0] !== kind || b[2] < x0 || b[0] > x1 || b[3] < y0 || b[1] > y1) continue;
              /* one path per way: a single path of thousands of rings rasterises far slower */
              ctx.beginPath();
              for (var j = 0; j < pts.length; j += 2) {
                var px = pts[j] * s - o.x, py = pts[j + 1] * s - o.y;
                if (j === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
              }
              if (st.fill) { ctx.closePath(); ctx.fill(); }
              ctx.stroke();
            }
          }
          ctx.setLineDash([]);
        }
      });
      var g = L.layerGroup([new Painter({ pane: "npBase", padding: 0.5 })]);
      g._npN = n;
      return g;
    },
    points: function (d) {
      /* A disc in the catchment's colour (area = residents assigned), a red ring when the
       * point finishes late, a dashed dark-red ring when it cannot swab everyone in time. */
      var g = L.featureGroup(), markers = [];
      for (var i = 0; i < d.lat.length; i++) {
        var ll = [d.lat[i], d.lon[i]], r = d.r[i];
        if (d.ring[i] & 2) {
          L.circleMarker(ll, {
            radius: r + ((d.ring[i] & 1) ? 9 : 5), color: "#67000d", weight: 2.5,
            dashArray: "5 4", fill: false, interactive: false, className: "np-short"
          }).addTo(g);
        }
        if (d.ring[i] & 1) {
          L.circleMarker(ll, {
            radius: r + 4, color: "#d62728", weight: 3.5, fill: false, interactive: false,
            className: "np-late"
          }).addTo(g);
        }
        var m = L.circleMarker(ll, {
          radius: r, color: "#fff", weight: 2, fillColor: d.colour[i], fillOpacity: 0.95,
          className: "np-point"
        }).bindPopup(d.popup[i], NP.popupOptions).bindTooltip(d.tip[i]).addTo(g);
        m._npLabel = d.tip[i];
        markers.push(m);
      }
      g._npN = markers.length;
      markers.sort(function (a, b) { return b.getRadius() - a.getRadius(); }); /* busiest first */
      viewLabels(g, markers, function (z) { return z >= NP.pointLabelZoom; }, "np-point-label",
        "top", true);
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
        var i = e.layer._npIndex, p = d.pt[i], gi = d.g[i];
        var walk = d.walk[i] === null ? "" : d.walk[i] + " " + lab.metres;
        var title = d.name[i] || (lab.building + " " + d.id[i]);
        var html = "<b>" + title + "</b>" + table([
          [lab.building, d.name[i] ? d.id[i] : ""],
          [lab.residents, String(d.res[i])],
          [lab.point, "<span class='np-swatch' style='background:" + d.ptColour[p] + "'></span>" +
            d.ptName[p]],
          [lab.call, d.call[i]],
          [lab.walk_m, walk],
          [lab.grid, d.gridId[gi]]
        ]) + (d.chg && d.chg[i] ? "<div class='np-change'>" + lab.change + ": " + d.chg[i] + "</div>" : "") +
          link(d.gridSheet[gi], lab.open_grid_sheet) + link(d.ptSheet[p], lab.open_point_sheet);
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
        }).bindTooltip(d.tip[i]).bindPopup(d.tip[i], NP.popupOptions).addTo(g);
      }
      /* suggested temporary points for the buildings out of reach: a dashed outline of the
         buildings each reaches and a ringed dot each (counted apart:
         window.natplan.counts().suggested) */
      var s = d.sug, n = 0;
      if (s) {
        for (var k = 0; k < s.lat.length; k++) {
          L.polygon(s.ring[k], {
            color: "#d62728", weight: 1.5, dashArray: "6 4", fill: false,
            interactive: false, className: "np-suggested-reach"
          }).addTo(g);
          L.circleMarker([s.lat[k], s.lon[k]], {
            radius: 8, color: "#d62728", weight: 3, fillColor: "#fff", fillOpacity: 1,
            className: "np-suggested"
          }).bindTooltip(s.tip[k]).bindPopup(s.tip[k], NP.popupOptions).addTo(g);
          n += 2;
        }
      }
      g._npSug = n;
      return g;
    },
    catchments: function (d) {
      var g = L.featureGroup();
      for (var i = 0; i < d.length; i++) {
        L.polygon(d[i].ring, {
          color: d[i].colour, weight: 1.5, opacity: 0.8, fillColor: d[i].colour,
          fillOpacity: 0.06, className: "np-catchment"
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
        }).bindTooltip(t.team, { sticky: true }).bindPopup(t.popup, NP.popupOptions).addTo(g);
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
      viewLabels(g, stops, function (z) { return z >= NP.stopLabelZoom; }, "np-stop-label",
        "right", false);
      return g;
    },
    transport: function (d) {
      /* Vehicle trips: a line each in the vehicle's colour, as thick as its load of tubes;
       * labs: a dark diamond each (a div icon, above the lines). */
      var g = L.featureGroup();
      for (var i = 0; i < d.trips.length; i++) {
        var t = d.trips[i];
        L.polyline(t.line, {
          color: t.colour, weight: t.w, opacity: 0.65, lineJoin: "round", className: "np-trip"
        }).bindTooltip(t.tip, { sticky: true }).bindPopup(t.popup, NP.popupOptions).addTo(g);
      }
      /* the diamond is the icon's child: Leaflet positions the icon itself by a transform */
      var icon = L.divIcon({
        className: "np-lab-icon", html: "<div class='np-lab'></div>", iconSize: [16, 16],
        iconAnchor: [8, 8]
      });
      for (var k = 0; k < d.labs.lat.length; k++) {
        L.marker([d.labs.lat[k], d.labs.lon[k]], { icon: icon, keyboard: false })
          .bindTooltip(d.labs.tip[k]).bindPopup(d.labs.popup[k], NP.popupOptions).addTo(g);
      }
      g._npN = d.trips.length;
      g._npLabs = d.labs.lat.length;
      return g;
    },
    changes: function (d) {
      /* A dashed dark ring around each building the re-plan changed. */
      var g = L.featureGroup();
      for (var i = 0; i < d.lat.length; i++) {
        L.circleMarker([d.lat[i], d.lon[i]], {
          radius: 8, color: "#111111", weight: 2.5, dashArray: "3 3", fill: true,
          fillOpacity: 0, className: "np-changed"
        }).bindTooltip(d.tip[i]).bindPopup(d.popup[i], NP.popupOptions).addTo(g);
      }
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

  NP.register = function (key, layer, name) {
    NP.layers[key] = layer;
    NP.names[key] = name;
  };

  function size(layer) {
    if (layer && layer._npN !== undefined) return layer._npN;
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
      } else if (k === "unserved") {
        c.unserved = size(L_.unserved) - (L_.unserved._npSug || 0);
        c.suggested = (L_.unserved._npSug || 0) / 2;
      } else if (k === "transport") {
        c.transport = L_.transport._npN;
        c.labs = L_.transport._npLabs;
      } else c[k] = size(L_[k]);
    }
    return c;
  };

  /* A foldable panel (<details>): `summary` always shows, `body` when open. */
  NP.panel = function (map, summary, body, position, cls, open) {
    var ctl = L.control({ position: position });
    ctl.onAdd = function () {
      var div = L.DomUtil.create("details", "np-panel " + cls);
      div.innerHTML = "<summary>" + summary + "</summary><div class='np-body'>" + body + "</div>";
      div.open = !!open;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    ctl.addTo(map);
    return ctl;
  };

  NP.init = function (map, labels, smallPx) {
    NP.map = map;
    NP.labels = labels;
    NP.small = window.innerWidth < smallPx;
    if (NP.small) {
      NP.popupOptions = { maxWidth: Math.max(200, window.innerWidth - 90), autoPanPadding: [10, 10] };
    }
    map.createPane("npBase").style.zIndex = 250; /* above tiles (200), under overlays (400) */
  };

  NP.finish = function (map, opts) {
    var open = window.innerWidth >= opts.smallPx;
    NP.panel(map, opts.kpiSummary, opts.kpiHtml, "topleft", "np-kpi", open);
    NP.panel(map, opts.legendSummary, opts.legendHtml, "bottomright", "np-legend", open);
    /* Fit the district beside the open panels on a desk, edge to edge on a phone. */
    map.fitBounds(opts.bounds, open
      ? { paddingTopLeft: [opts.pad[0], 20], paddingBottomRight: [opts.pad[1], 20], animate: false }
      : { padding: [12, 12], animate: false });
    if (opts.attributionHtml && map.attributionControl) {
      map.attributionControl.addAttribution(opts.attributionHtml);
    }
    NP.ready = true;
  };
})();
