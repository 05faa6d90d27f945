/* Survey imagery under the venue layers: the orthophoto as a basemap, index surveys (NDVI) as
 * overlays with their legend. Configured by web/imagery.py (config.imagery); the engine
 * (venue-map.js) constructs VT.Imagery and the page registers its layers with the layer control.
 *
 * Served pages draw the app's own survey tiles; exported pages carry one image per survey (a
 * data: URI), drawn as an image overlay in the tile pane so it stays under the venue layers.
 * showFor(date) switches each layer to the latest survey of its kind flown by that date (the
 * timeline calls it at every step), updating the layer's name in the control and its credit.
 *
 * An orthophoto with no pixels over part of the venue (a flight cut short) has the older flights
 * that fill that part drawn under it (its `under` list, worked out by web/imagery.py from the
 * flights' pixels): one layer group in the control, newest on top, each older flight asking for
 * tiles only where it shows (its `bounds`). A survey's tiles are transparent where it has no pixels.
 */
(function () {
  'use strict';
  var VT = (window.VT = window.VT || {});

  function latest(list, day) {
    var before = list.filter(function (s) { return !day || s.date <= day; });
    return before.length ? before[before.length - 1] : list[0];
  }

  VT.Imagery = function (engine, cfg) {
    this.engine = engine;
    this.map = engine.map;
    this.cfg = cfg;
    this.byId = {};
    this.groups = {}; // 'basemap' or an overlay kind -> {surveys: [...], layer, current, legend}
    var self = this;
    cfg.surveys.forEach(function (s) {
      self.byId[s.id] = s;
      var key = s.role === 'basemap' ? 'basemap' : s.kind;
      (self.groups[key] = self.groups[key] || { key: key, surveys: [] }).surveys.push(s);
    });
    Object.keys(this.groups).forEach(function (key) {
      var g = self.groups[key],
        first = self.byId[key === 'basemap' ? cfg.basemap : cfg.overlays[key]] || g.surveys[g.surveys.length - 1];
      g.layer = self._groupLayer(key, first);
      g.current = first;
      g.show = key === 'basemap' && !!cfg.basemap;
      if (g.show) g.layer.addTo(self.map);
    });
    this._legend = L.control({ position: 'bottomleft' });
    this._legend.onAdd = function () {
      var div = L.DomUtil.create('div', 'vt-imagery-legend');
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    this._legend.addTo(this.map);
    this.map.on('overlayadd overlayremove', function () { self._drawLegend(); });
    this.map.on('resize', function () { self._clearCredit(); });
    this._drawLegend();
  };

  /* `part`: the lon/lat bounds to ask tiles for (an older flight under a newer one), else the survey's. */
  VT.Imagery.prototype._layerFor = function (s, z, part, role) {
    var opts = { attribution: VT.esc(s.attribution), zIndex: z, opacity: s.role === 'basemap' ? 1 : 0.75 };
    var box = function (b) { return L.latLngBounds([b[1], b[0]], [b[3], b[2]]); };
    if (s.image) {
      return L.imageOverlay(s.image, box(s.bounds), L.extend(opts, { pane: 'tilePane', interactive: false }));
    }
    return L.tileLayer(s.tiles, L.extend(opts, {
      bounds: box(part || s.bounds), maxNativeZoom: s.maxNativeZoom, maxZoom: 22, minZoom: 0,
      className: 'vt-survey-' + (role || s.role),
    }));
  };

  /* A group's layer: an overlay's survey, or the orthophoto over the older flights that show under
   * it (a layer group, its `parts` bottom to top, for _stack). */
  VT.Imagery.prototype._groupLayer = function (key, s) {
    var self = this;
    if (key !== 'basemap') return this._layerFor(s, 2);
    var parts = (s.under || []).filter(function (u) { return self.byId[u.id]; }).reverse().map(function (u) {
      return self._layerFor(self.byId[u.id], 1, u.bounds, 'under');
    });
    parts.push(this._layerFor(s, 1));
    var group = L.layerGroup(parts);
    group.parts = parts;
    return group;
  };

  /* Register the layers with the page's layer control (folium's), one entry per kind. */
  VT.Imagery.prototype.register = function (control) {
    var self = this;
    this.control = control;
    this._keys().forEach(function (key) {
      var g = self.groups[key];
      control.addOverlay(g.layer, self._name(g));
    });
    this._stack();
  };

  /* The basemap first, then the overlays: the order they are listed and stacked in. */
  VT.Imagery.prototype._keys = function () {
    return Object.keys(this.groups).sort(function (a, b) {
      return (a === 'basemap' ? 0 : 1) - (b === 'basemap' ? 0 : 1) || (a < b ? -1 : a > b ? 1 : 0);
    });
  };

  /* The layer control renumbers the z-index of every layer it is given; keep the orthophoto at
   * the bottom of the tile pane and the index overlays above it, whatever was added last. */
  VT.Imagery.prototype._stack = function () {
    var self = this,
      z = 1;
    this._keys().forEach(function (key) {
      var layer = self.groups[key].layer;
      (layer.parts || [layer]).forEach(function (part) {
        if (part.setZIndex) part.setZIndex(z);
        z += 1;
      });
    });
  };

  VT.Imagery.prototype._name = function (g) {
    return '<span class="vt-survey-name" data-survey="' + VT.esc(g.current.id) + '" data-survey-kind="' +
      VT.esc(g.key) + '">' + VT.esc(g.current.label) + '</span>';
  };

  /* Show, in each group, the latest survey flown on or before `day` (YYYY-MM-DD). */
  VT.Imagery.prototype.showFor = function (day) {
    var self = this;
    Object.keys(this.groups).forEach(function (key) {
      var g = self.groups[key];
      if (key === 'basemap' && self.cfg.pinned) return;
      var s = latest(g.surveys, day);
      if (!s || s === g.current) return;
      var on = self.map.hasLayer(g.layer),
        old = g.layer;
      g.current = s;
      g.layer = self._groupLayer(key, s);
      if (self.control) {
        self.control.removeLayer(old);
        self.control.addOverlay(g.layer, self._name(g));
      }
      if (on) {
        self.map.removeLayer(old);
        g.layer.addTo(self.map);
      }
    });
    this._stack();
    this._drawLegend();
  };

  /* The groups' layers on the map now that draw tiles (not an exported page's one image each):
     what printing from a small window leaves out (venue-map.js, beforeprint). */
  VT.Imagery.prototype.tiledShown = function () {
    var self = this;
    return Object.keys(this.groups).map(function (key) { return self.groups[key].layer; }).filter(function (layer) {
      return self.map.hasLayer(layer) && (layer.parts || [layer]).some(function (p) { return p instanceof L.TileLayer; });
    });
  };

  /* Which survey each group shows now, and whether it is on the map (for tests and the panel). */
  VT.Imagery.prototype.state = function () {
    var self = this,
      out = {};
    Object.keys(this.groups).forEach(function (key) {
      var g = self.groups[key];
      out[key] = { id: g.current.id, date: g.current.date, shown: self.map.hasLayer(g.layer) };
      if (key === 'basemap') out[key].under = (g.current.under || []).map(function (u) { return u.id; });
    });
    return out;
  };

  VT.Imagery.prototype._drawLegend = function () {
    var self = this,
      html = '';
    Object.keys(this.groups).forEach(function (key) {
      var g = self.groups[key];
      if (key !== 'basemap' && self.map.hasLayer(g.layer) && self.cfg.legends[key]) html += self.cfg.legends[key];
    });
    // With an index overlay on, the venue layers turn translucent so the index shows through them.
    L.DomUtil[html ? 'addClass' : 'removeClass'](this.map.getContainer(), 'vt-index-on');
    var div = this._legend.getContainer();
    if (!div) return;
    div.innerHTML = html; // legends are rendered from a Jinja2 template (autoescaped) by web/imagery.py
    div.style.display = html ? '' : 'none';
    this._clearCredit();
  };

  /* The credit line (bottom right) runs over two or three lines on a narrow map and reaches under
     the legend (bottom left): the legend then sits above it, once the credit is laid out. */
  VT.Imagery.prototype._clearCredit = function () {
    var div = this._legend.getContainer(),
      credit = this.map.getContainer().querySelector('.leaflet-control-attribution');
    if (!div || !credit) return;
    div.style.marginBottom = '';
    requestAnimationFrame(function () {
      var a = credit.getBoundingClientRect(),
        b = div.getBoundingClientRect();
      if (div.style.display !== 'none' && a.left < b.right && b.bottom > a.top) {
        div.style.marginBottom = Math.ceil(b.bottom - a.top + 4 + parseFloat(getComputedStyle(div).marginBottom || 0)) + 'px';
      }
    });
  };
})();
