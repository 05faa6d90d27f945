/*
 * venue-map.js: the venue twin's map engine, on Leaflet (from its npm package, served by the app).
 *
 * Python (web/maps.py) builds each page with folium; this script draws the venue layers.
 * A layer's features are loaded from the app (/maps/data/...) for the part of the venue in view,
 * as the view changes, or come embedded in an exported page. Each layer draws all its features
 * on one canvas in a few batched paths (one per style), so tens of thousands of features draw in
 * milliseconds; clicks are hit-tested here and answered with a popup. A layer too large for that
 * (more features than VENUE_TWIN_MAP_TILE_THRESHOLD) is drawn from the API's vector tiles instead.
 * The labels of every layer are placed together, the most important first, none over another or
 * under the map's controls, in a pane above all the layers (VT.LabelPlacer).
 *
 * Nothing here fetches from anywhere but the page's own origin.
 */
(function () {
  'use strict';

  var VT = (window.VT = window.VT || {});
  var PAD = 0.35; // each layer's canvas reaches this fraction of the view beyond every edge
  var MAX_LABELS = 400;
  var CHUNK_VERTICES = 1500;

  VT.layers = [];
  VT.pending = 0;
  VT.messages = [];

  // The layer list (folium's control, made open) covered much of a phone's or a tablet's narrow map
  // with no way to close it: on a map narrower than this it is a button that opens the list, and a
  // tap on the map closes it (Leaflet's collapsed control). Named in the page's language.
  var OPEN_LAYER_LIST_MIN_WIDTH = 600;
  // A popup is panned into view below the zoom buttons and the layer button and above the scale and
  // the credit, and scrolls when taller than that room: on a phone's short map its title and close
  // button were under the buttons and a feature of two projects ran off the map's foot.
  VT.popupOptions = function (map, options) {
    var top = 84,
      bottom = 56;
    return L.extend(
      { autoPanPaddingTopLeft: [5, top], autoPanPaddingBottomRight: [5, bottom],
        maxHeight: Math.max(120, map.getSize().y - top - bottom - 60) },
      options
    );
  };
  var layersOnAdd = L.Control.Layers.prototype.onAdd;
  L.Control.Layers.include({
    onAdd: function (map) {
      if (map.getSize().x < OPEN_LAYER_LIST_MIN_WIDTH) this.options.collapsed = true;
      var container = layersOnAdd.call(this, map);
      if (!this.options.collapsed) {
        // The open list covers the map's top-right corner, where a popup panned into view below the
        // buttons could put its close button out of reach: while a popup is open the list is its
        // button (a click opens it), and it opens again when the popup closes.
        var control = this;
        map.on('popupopen', function () { control.collapse(); });
        map.on('popupclose', function () { control.expand(); });
      }
      var name = VT.engine && VT.engine.labels.layer_list;
      if (name && this._layersLink) {
        this._layersLink.title = name;
        this._layersLink.setAttribute('aria-label', name);
      }
      return container;
    },
  });

  // ------------------------------------------------------------------ small helpers
  function esc(v) {
    return String(v === null || v === undefined ? '' : v)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;');
  }
  VT.esc = esc;

  // A status that must read apart from its neighbours on a black-and-white printout (behind is as
  // dark as done in grey, at risk as not started) carries a pattern over its colour (web/maps.py
  // STATUS_PATTERNS): `hatch` on a polygon's fill (stripes in the style's pixels, {color, spacing,
  // width, opacity}), `lineMark` down a line's middle (a dashed stripe, {color, dash, width});
  // `hatch.kind` 'dots' is dots of that width instead of stripes, 'cross' stripes both ways. The
  // panel's legend shows the same (venue-map.css).
  var hatchTiles = {};
  function hatchPattern(ctx, h) {
    var s = h.spacing || 8,
      key = [h.kind, h.color, s, h.width].join('|');
    if (!hatchTiles[key]) {
      var tile = document.createElement('canvas');
      tile.width = tile.height = s;
      var t = tile.getContext('2d');
      if (h.kind === 'dots') {
        t.fillStyle = h.color || '#ffffff';
        t.beginPath();
        t.arc(s / 2, s / 2, (h.width || 2) / 2, 0, 2 * Math.PI);
        t.fill();
        hatchTiles[key] = tile;
        return ctx.createPattern(tile, 'repeat');
      }
      t.strokeStyle = h.color || '#ffffff';
      t.lineWidth = h.width || 2;
      t.lineCap = 'square';
      t.beginPath(); // "/" across the tile and its two corners, so the stripes meet tile to tile
      t.moveTo(-1, s + 1); t.lineTo(s + 1, -1);
      t.moveTo(-1, 1); t.lineTo(1, -1);
      t.moveTo(s - 1, s + 1); t.lineTo(s + 1, s - 1);
      if (h.kind === 'cross') { // and "\" the same way
        t.moveTo(-1, -1); t.lineTo(s + 1, s + 1);
        t.moveTo(s - 1, -1); t.lineTo(s + 1, 1);
        t.moveTo(-1, s - 1); t.lineTo(1, s + 1);
      }
      t.stroke();
      hatchTiles[key] = tile;
    }
    return ctx.createPattern(hatchTiles[key], 'repeat');
  }
  function fillHatch(ctx, st) {
    if (!st.hatch) return;
    ctx.globalAlpha = st.hatch.opacity === undefined ? 1 : st.hatch.opacity;
    ctx.fillStyle = hatchPattern(ctx, st.hatch);
    ctx.fill('nonzero');
  }
  function markLine(ctx, st) {
    if (!st.lineMark) return;
    ctx.globalAlpha = 1;
    ctx.setLineDash(st.lineMark.dash || [4, 4]);
    ctx.lineCap = 'butt';
    ctx.strokeStyle = st.lineMark.color || '#ffffff';
    ctx.lineWidth = st.lineMark.width || 1.5;
    ctx.stroke();
    ctx.setLineDash(st.dash || []);
    ctx.lineCap = 'round';
  }
  VT.hatchPattern = hatchPattern;

  // The order features are drawn in, one rule with the printed briefing (web/maps.py DRAW_LEVELS,
  // sent as the config's `drawLevels`): by the rank of their level first (an upper-level hall over
  // the hall below it, whatever their statuses), then by the style order (the worse status last).
  // `items` are {f, ...}; `props(it)` gives an item's properties. Returns [[class, items], ...] in
  // drawing order; hit testing walks it backwards, the top-most first.
  function drawBuckets(engine, items, props) {
    var dl = engine.config.drawLevels || {},
      ranks = dl.ranks || {},
      order = engine.styleOrder,
      buckets = {},
      keys = [];
    items.forEach(function (it) {
      var p = dl.field ? props(it) : null,
        r = p && typeof ranks[p[dl.field]] === 'number' ? ranks[p[dl.field]] : 0,
        c = it.f.c || 'default',
        key = r + '|' + c;
      if (!buckets[key]) {
        buckets[key] = { c: c, r: r, items: [] };
        keys.push(key);
      }
      buckets[key].items.push(it);
    });
    function at(c) {
      var i = order.indexOf(c);
      return i < 0 ? 99 : i;
    }
    return keys
      .map(function (k) { return buckets[k]; })
      .sort(function (a, b) { return a.r - b.r || at(a.c) - at(b.c); })
      .map(function (b) { return [b.c, b.items]; });
  }

  function fmt(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return values && values[k] !== undefined ? values[k] : m;
    });
  }
  VT.fmt = fmt;

  // a percent as a leader reads it (web.i18n.percent_round): half up, but below 100 never "100%"
  // (99.8 -> 99%: not done) and above 0 never "0%" (0.2 -> 1%)
  function pct(percent) {
    if (percent === null || percent === undefined) return '–';
    var shown = Math.round(percent);
    if (shown >= 100 && percent < 100) shown = 99;
    else if (shown <= 0 && percent > 0) shown = 1;
    return shown + '%';
  }
  VT.pct = pct;

  function query(params) {
    var parts = [];
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== '') parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
    });
    return parts.join('&');
  }

  VT.fetchJSON = function (url) {
    VT.pending++;
    return fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) {
          return r.text().then(function (t) {
            var detail = t;
            try {
              detail = JSON.parse(t).detail || t;
            } catch (e) {
              /* not JSON */
            }
            throw new Error(r.status + ' ' + String(detail).slice(0, 300));
          });
        }
        return r.json();
      })
      .finally(function () {
        VT.pending--;
      });
  };

  VT.showMessage = function (text, isError) {
    var box = document.getElementById('vt-message');
    if (!box) return;
    if (!text) {
      box.style.display = 'none';
      return;
    }
    box.textContent = text;
    box.className = isError ? 'vt-message vt-error' : 'vt-message';
    box.style.display = 'block';
    if (isError) VT.messages.push(text);
  };

  // ------------------------------------------------------------------ projection
  // Points at zoom 0 of the map's CRS (Web Mercator by default): pixel = p0 * 2^zoom.
  var R = 6378137,
    MAXLAT = 85.0511287798;

  // -> proj(lng, lat, out, i): writes the point's zoom-0 x, y into out[i], out[i + 1]
  function projector(map) {
    var crs = map.options.crs;
    if (crs === L.CRS.EPSG3857) {
      var d2r = Math.PI / 180,
        k = 256 / 360,
        m = 128 / Math.PI;
      return function (lng, lat, out, i) {
        var la = (lat > MAXLAT ? MAXLAT : lat < -MAXLAT ? -MAXLAT : lat) * d2r;
        out[i] = 128 + lng * k;
        out[i + 1] = 128 - m * Math.log(Math.tan(Math.PI / 4 + la / 2));
      };
    }
    return function (lng, lat, out, i) {
      var p = crs.latLngToPoint(L.latLng(lat, lng), 0);
      out[i] = p.x;
      out[i + 1] = p.y;
    };
  }

  // a point's zoom-0 coordinates as [x, y] (for clicks)
  function project1(proj, lng, lat) {
    var out = [0, 0];
    proj(lng, lat, out, 0);
    return out;
  }

  // Exterior rings one way round, holes the other: then one batched path of many features fills
  // with the non-zero rule, so overlapping features (a 16 m hall over the 0 m hall) never cancel
  // out, while holes stay holes.
  function signedArea(r) {
    var a = 0;
    for (var i = 0, j = r.length - 2; i < r.length; j = i, i += 2) a += (r[j] - r[i]) * (r[j + 1] + r[i + 1]);
    return a;
  }

  function reversed(r) {
    var out = new Float64Array(r.length);
    for (var i = 0; i < r.length; i += 2) {
      out[r.length - 2 - i] = r[i];
      out[r.length - 1 - i] = r[i + 1];
    }
    return out;
  }

  function orient(rings) {
    return rings.map(function (r, i) {
      var positive = signedArea(r) > 0;
      return positive === (i === 0) ? r : reversed(r);
    });
  }

  function prepare(f, proj) {
    // -> {f, parts: [{t: 0 polygon | 1 line | 2 point, rings: [Float64Array]}], box: [minx, miny, maxx, maxy]}
    var parts = [],
      box = [Infinity, Infinity, -Infinity, -Infinity];
    function path(coords) {
      var a = new Float64Array(coords.length * 2);
      for (var i = 0; i < coords.length; i++) {
        proj(coords[i][0], coords[i][1], a, 2 * i);
        var x = a[2 * i],
          y = a[2 * i + 1];
        if (x < box[0]) box[0] = x;
        if (y < box[1]) box[1] = y;
        if (x > box[2]) box[2] = x;
        if (y > box[3]) box[3] = y;
      }
      return a;
    }
    function part(t, rings) {
      var n = 0;
      for (var i = 0; i < rings.length; i++) n += rings[i].length / 2;
      return { t: t, rings: rings, n: t === 2 ? n * 8 : n };
    }
    function add(g) {
      if (!g) return;
      var c = g.coordinates;
      switch (g.type) {
        case 'Polygon':
          parts.push(part(0, orient(c.map(path))));
          break;
        case 'MultiPolygon':
          c.forEach(function (poly) {
            parts.push(part(0, orient(poly.map(path))));
          });
          break;
        case 'LineString':
          parts.push(part(1, [path(c)]));
          break;
        case 'MultiLineString':
          c.forEach(function (line) {
            parts.push(part(1, [path(line)]));
          });
          break;
        case 'Point':
          parts.push(part(2, [path([c])]));
          break;
        case 'MultiPoint':
          parts.push(part(2, [path(c)]));
          break;
        case 'GeometryCollection':
          g.geometries.forEach(add);
          break;
      }
    }
    add(f.g);
    return { f: f, parts: parts, box: box };
  }

  // ------------------------------------------------------------------ the canvas layer
  VT.VenueLayer = L.Layer.extend({
    initialize: function (engine, spec) {
      this.engine = engine;
      this.spec = spec;
      this.params = L.extend({}, spec.params || {});
      this.items = [];
      this._byKey = null;
      this.numberMatched = null;
      this.loaded = false;
      this.drawn = 0;
      this._seq = 0;
      this._loadedBounds = null;
      this._loadedZoom = null;
      this._highlight = {};
      this._buckets = [];
    },

    getEvents: function () {
      return { moveend: this._onMoveEnd, zoomanim: this._onZoomAnim, resize: this._onMoveEnd };
    },

    onAdd: function (map) {
      this._canvas = L.DomUtil.create('canvas', 'vt-canvas leaflet-zoom-animated');
      this._canvas.setAttribute('data-layer', this.spec.id);
      var pane = map.getPane(this.spec.pane || 'overlayPane');
      pane.appendChild(this._canvas);
      this._proj = projector(map);
      if (this.spec.data) {
        this.setData(this.spec.data);
        this.spec.data = null;
      }
      this._reset();
      this._maybeLoad();
      this.engine.placeLabels();
    },

    onRemove: function () {
      L.DomUtil.remove(this._canvas);
      this._canvas = null;
      this.engine.placeLabels();
    },

    isVisible: function () {
      return !!(this._map && this._canvas);
    },

    // ---- data
    setParams: function (params) {
      L.extend(this.params, params);
      this._loadedBounds = null;
      if (this.spec.embedded) {
        var key = this.spec.embeddedKey ? this.params[this.spec.embeddedKey] : null;
        var data = key !== null ? this.spec.embedded[key] : null;
        this.setData(data || { features: [], numberMatched: 0 });
        return Promise.resolve();
      }
      return this._map ? this.load() : Promise.resolve();
    },

    _maybeLoad: function () {
      if (!this._map || this.spec.embedded || !this.spec.url) return;
      var view = this._map.getBounds();
      var z = this._map.getZoom();
      if (this._loadedBounds && this._loadedBounds.contains(view) && !(this.spec.simplify && z > this._loadedZoom + 1)) {
        return;
      }
      this.load();
    },

    load: function () {
      var map = this._map;
      if (!map || !this.spec.url) return Promise.resolve();
      var bounds = map.getBounds().pad(0.5);
      var z = map.getZoom();
      var params = L.extend({}, this.params, {
        bbox: [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
          .map(function (v) {
            return v.toFixed(6);
          })
          .join(','),
        zoom: z,
      });
      var seq = ++this._seq;
      var self = this;
      var t0 = performance.now();
      this.loading = true;
      this.requested = params.bbox;
      VT.showMessage(this.engine.labels.loading || '…');
      return VT.fetchJSON(this.spec.url + '?' + query(params))
        .then(function (data) {
          if (seq !== self._seq) return;
          self._loadedBounds = bounds;
          self._loadedZoom = z;
          self.bbox = params.bbox;
          var t1 = performance.now();
          self.setData(data);
          self.timing = { load_ms: Math.round(t1 - t0), draw_ms: Math.round(performance.now() - t1), at_ms: Math.round(performance.now()) };
        })
        .catch(function (err) {
          if (seq !== self._seq) return;
          self.loadError = String(err && err.message ? err.message : err);
          VT.showMessage(fmt(self.engine.labels.load_failed || '{error}', { error: self.loadError }), true);
        })
        .finally(function () {
          if (seq === self._seq) self.loading = false;
          if (!VT.layers.some(function (l) { return l.loading; }) && !VT.messages.length) VT.showMessage('');
        });
    },

    setData: function (data) {
      var proj = this._proj || projector(this.engine.map);
      var feats = (data && data.features) || [];
      var items = new Array(feats.length);
      for (var i = 0; i < feats.length; i++) items[i] = prepare(feats[i], proj);
      this.items = items;
      this._byKey = null;
      this.numberMatched = data ? data.numberMatched : 0;
      this.truncated = data && data.truncated;
      this.loaded = true;
      this._bucket();
      this._redraw();
      if (this.truncated) {
        VT.showMessage(fmt(this.engine.labels.too_many || '', { n: this.numberMatched }));
      }
      this.fire('load');
      this.engine.placeLabels();
      this.engine._changed();
    },

    _bucket: function () {
      this._buckets = drawBuckets(this.engine, this.items, function (it) { return it.f.p; });
    },

    // ---- view
    _onMoveEnd: function () {
      // laid out for paper (the engine's beforeprint): the canvas as drawn for the screen, which
      // reaches beyond the printed view; drawn again, Chromium printed it blank
      if (this.engine.printing) return;
      this._reset();
      this._maybeLoad();
    },

    _onZoomAnim: function (e) {
      if (!this._canvas || !this._center) return;
      var map = this._map;
      var scale = map.getZoomScale(e.zoom, this._zoom);
      var viewHalf = map.getSize().multiplyBy(0.5 + PAD);
      var currentCenterPoint = map.project(this._center, e.zoom);
      var topLeftOffset = viewHalf
        .multiplyBy(-scale)
        .add(currentCenterPoint)
        .subtract(map._getNewPixelOrigin(e.center, e.zoom));
      L.DomUtil.setTransform(this._canvas, topLeftOffset, scale);
    },

    _reset: function () {
      if (!this._map || !this._canvas) return;
      var map = this._map;
      var size = map.getSize();
      var topLeft = map.containerPointToLayerPoint(size.multiplyBy(-PAD)).round();
      var full = size.multiplyBy(1 + 2 * PAD).round();
      var dpr = window.devicePixelRatio || 1;
      var c = this._canvas;
      if (c.width !== Math.round(full.x * dpr) || c.height !== Math.round(full.y * dpr)) {
        c.width = Math.round(full.x * dpr);
        c.height = Math.round(full.y * dpr);
        c.style.width = full.x + 'px';
        c.style.height = full.y + 'px';
      }
      L.DomUtil.setPosition(c, topLeft);
      this._center = map.getCenter();
      this._zoom = map.getZoom();
      this._topLeft = topLeft;
      this._size = full;
      this._redraw();
    },

    _redraw: function () {
      if (!this._map || !this._canvas || !this._size) return;
      var map = this._map,
        ctx = this._canvas.getContext('2d'),
        dpr = window.devicePixelRatio || 1;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, this._size.x, this._size.y);
      var k = Math.pow(2, this._zoom);
      var origin = map.getPixelOrigin().add(this._topLeft);
      var ox = origin.x,
        oy = origin.y;
      // the canvas in zoom-0 units, to skip features outside it
      var vx0 = ox / k,
        vy0 = oy / k,
        vx1 = (ox + this._size.x) / k,
        vy1 = (oy + this._size.y) / k;
      var styles = this.engine.styles,
        layerStyle = this.spec.style || {};
      var drawn = 0;
      var self = this;

      function trace(ring, close) {
        ctx.moveTo(ring[0] * k - ox, ring[1] * k - oy);
        for (var i = 2; i < ring.length; i += 2) ctx.lineTo(ring[i] * k - ox, ring[i + 1] * k - oy);
        if (close) ctx.closePath();
      }
      function inView(b, m) {
        return !(b[2] < vx0 - m || b[0] > vx1 + m || b[3] < vy0 - m || b[1] > vy1 + m);
      }
      function chunked(parts, add, paint) {
        var n = 0;
        ctx.beginPath();
        for (var i = 0; i < parts.length; i++) {
          add(parts[i]);
          n += parts[i].n;
          if (n >= CHUNK_VERTICES) {
            paint();
            ctx.beginPath();
            n = 0;
          }
        }
        if (n > 0) paint();
      }

      this._buckets.forEach(function (pair) {
        var st = L.extend({}, styles[pair[0]] || styles['default'] || {}, layerStyle, (layerStyle.byClass || {})[pair[0]] || {});
        var list = pair[1];
        var polys = [],
          lines = [],
          points = [];
        for (var i = 0; i < list.length; i++) {
          var it = list[i];
          if (!inView(it.box, 20 / k)) continue;
          drawn++;
          for (var j = 0; j < it.parts.length; j++) {
            var p = it.parts[j];
            (p.t === 0 ? polys : p.t === 1 ? lines : points).push(p);
          }
        }
        ctx.setLineDash(st.dash || []);
        ctx.lineJoin = 'round';
        ctx.lineCap = 'round';
        // Paths are painted a few thousand vertices at a time: a canvas path of tens of thousands of
        // sub-paths fills and strokes superlinearly slower (seconds) than the same in small batches.
        if (polys.length) {
          chunked(
            polys,
            function (p) {
              p.rings.forEach(function (r) {
                trace(r, true);
              });
            },
            function () {
              if (st.fillOpacity > 0) {
                ctx.globalAlpha = st.fillOpacity;
                ctx.fillStyle = st.fill;
                ctx.fill('nonzero');
              }
              fillHatch(ctx, st);
              if (st.weight > 0) {
                ctx.globalAlpha = st.opacity === undefined ? 1 : st.opacity;
                ctx.strokeStyle = st.color;
                ctx.lineWidth = st.weight;
                ctx.stroke();
              }
            }
          );
        }
        if (lines.length) {
          var paintLines = function () {
            if (st.casing) {
              ctx.globalAlpha = 1;
              ctx.strokeStyle = st.casing;
              ctx.lineWidth = (st.lineWeight || 4) + 2.5;
              ctx.stroke();
            }
            ctx.globalAlpha = st.lineOpacity === undefined ? 1 : st.lineOpacity;
            ctx.strokeStyle = st.lineColor || st.fill || st.color;
            ctx.lineWidth = st.lineWeight || 4;
            ctx.stroke();
            markLine(ctx, st);
          };
          chunked(lines, function (p) { trace(p.rings[0], false); }, paintLines);
        }
        if (points.length) {
          var r = st.radius || 4;
          chunked(
            points,
            function (p) {
              var a = p.rings[0];
              for (var i = 0; i < a.length; i += 2) {
                var x = a[i] * k - ox,
                  y = a[i + 1] * k - oy;
                ctx.moveTo(x + r, y);
                ctx.arc(x, y, r, 0, 2 * Math.PI);
              }
            },
            function () {
              ctx.globalAlpha = st.fillOpacity > 0 ? Math.max(st.fillOpacity, 0.8) : 0.8;
              ctx.fillStyle = st.lineColor || st.fill;
              ctx.fill();
              ctx.globalAlpha = 1;
              ctx.lineWidth = 1;
              ctx.strokeStyle = st.color || '#333';
              ctx.stroke();
            }
          );
        }
        ctx.globalAlpha = 1;
        ctx.setLineDash([]);
      });

      // highlighted features: outlined dark on a white halo; a line keeps its colour inside its outline
      var hl = this._highlighted();
      if (hl.length) {
        var shapes = [],
          lineParts = [];
        this._highlighted().forEach(function (it) {
          it.parts.forEach(function (p) {
            (p.t === 1 ? lineParts : shapes).push([it, p]);
          });
        });
        var traceShapes = function () {
          ctx.beginPath();
          shapes.forEach(function (pair) {
            var p = pair[1];
            if (p.t === 2) {
              var a = p.rings[0];
              for (var i = 0; i < a.length; i += 2) {
                var x = a[i] * k - ox,
                  y = a[i + 1] * k - oy;
                ctx.moveTo(x + 9, y);
                ctx.arc(x, y, 9, 0, 2 * Math.PI);
              }
            } else {
              p.rings.forEach(function (r) {
                trace(r, true);
              });
            }
          });
        };
        ctx.lineJoin = 'round';
        ctx.lineCap = 'round';
        if (shapes.length) {
          traceShapes();
          ctx.strokeStyle = '#ffffff';
          ctx.lineWidth = 7;
          ctx.stroke();
          ctx.strokeStyle = '#111827';
          ctx.lineWidth = 3;
          ctx.stroke();
        }
        lineParts.forEach(function (pair) {
          var st = L.extend({}, styles[pair[0].f.c] || {}, layerStyle);
          var w = st.lineWeight || 4;
          [['#111827', w + 8], ['#ffffff', w + 4], [st.lineColor || st.fill || '#111827', w]].forEach(function (pen) {
            ctx.beginPath();
            trace(pair[1].rings[0], false);
            ctx.strokeStyle = pen[0];
            ctx.lineWidth = pen[1];
            ctx.stroke();
          });
        });
      }

      this.drawn = drawn;
      this._canvas.setAttribute('data-drawn', String(drawn));
    },

    // The items outlined: those named by setHighlight, and the members of the engine's chosen project.
    _highlighted: function () {
      var self = this,
        out = [];
      Object.keys(this._highlight).forEach(function (key) {
        (self.keyIndex()[key] || []).forEach(function (it) {
          out.push(it);
        });
      });
      var pi = this.engine.highlightProject;
      if (pi !== null && pi !== undefined) {
        this.items.forEach(function (it) {
          if (it.f.j && it.f.j.indexOf(pi) >= 0 && !self._highlight[it.f.k || it.f.id]) out.push(it);
        });
      }
      return out;
    },

    // feature key ("k", else the id) -> its items; built when first needed
    keyIndex: function () {
      if (!this._byKey) {
        var byKey = {};
        this.items.forEach(function (it) {
          var k = it.f.k || it.f.id;
          (byKey[k] = byKey[k] || []).push(it);
        });
        this._byKey = byKey;
      }
      return this._byKey;
    },

    setHighlight: function (keys) {
      this._highlight = {};
      var self = this;
      (keys || []).forEach(function (k) {
        self._highlight[k] = true;
      });
      this._redraw();
    },

    // ---- hit testing (zoom-0 units)
    hit: function (latlng) {
      return this.hits(latlng, 1)[0] || null;
    },

    // the features under a point, the top-most (drawn last) first; at most `max` if given
    hits: function (latlng, max) {
      var out = [];
      if (!this._map || !this._canvas || this.spec.interactive === false) return out;
      var p = project1(this._proj, latlng.lng, latlng.lat);
      var k = Math.pow(2, this._map.getZoom());
      var tol = 5 / k;
      for (var b = this._buckets.length - 1; b >= 0; b--) {
        var list = this._buckets[b][1];
        var st = this.engine.styles[this._buckets[b][0]] || {};
        if (st.interactive === false) continue;
        for (var i = list.length - 1; i >= 0; i--) {
          var it = list[i],
            bx = it.box;
          var m = tol + ((st.lineWeight || 4) / 2 + (st.radius || 4)) / k;
          if (p[0] < bx[0] - m || p[0] > bx[2] + m || p[1] < bx[1] - m || p[1] > bx[3] + m) continue;
          if (hitItem(it, p[0], p[1], tol, st, k) && out.indexOf(it.f) < 0) {
            out.push(it.f);
            if (max && out.length >= max) return out;
          }
        }
      }
      return out;
    },

    boundsOf: function (keys) {
      var box = [Infinity, Infinity, -Infinity, -Infinity],
        self = this;
      keys.forEach(function (key) {
        (self.keyIndex()[key] || []).forEach(function (it) {
          box = [Math.min(box[0], it.box[0]), Math.min(box[1], it.box[1]), Math.max(box[2], it.box[2]), Math.max(box[3], it.box[3])];
        });
      });
      return box[0] === Infinity ? null : box;
    },
  });

  function hitItem(it, x, y, tol, st, k) {
    for (var j = 0; j < it.parts.length; j++) {
      var part = it.parts[j];
      if (part.t === 0) {
        var inside = false;
        part.rings.forEach(function (r) {
          for (var a = 0, b = r.length - 2; a < r.length; b = a, a += 2) {
            var xa = r[a],
              ya = r[a + 1],
              xb = r[b],
              yb = r[b + 1];
            if (ya > y !== yb > y && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
          }
        });
        if (inside) return true;
        if (part.rings.some(function (r) { return distToPath(r, x, y) <= tol; })) return true;
      } else if (part.t === 1) {
        if (distToPath(part.rings[0], x, y) <= tol + (st.lineWeight || 4) / 2 / k) return true;
      } else {
        var a2 = part.rings[0];
        for (var i = 0; i < a2.length; i += 2) {
          if (Math.hypot(a2[i] - x, a2[i + 1] - y) <= tol + (st.radius || 4) / k) return true;
        }
      }
    }
    return false;
  }

  function distToPath(r, x, y) {
    var best = Infinity;
    for (var i = 0; i + 3 < r.length; i += 2) {
      var x1 = r[i],
        y1 = r[i + 1],
        x2 = r[i + 2],
        y2 = r[i + 3];
      var dx = x2 - x1,
        dy = y2 - y1;
      var t = dx || dy ? ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy) : 0;
      t = Math.max(0, Math.min(1, t));
      var d = Math.hypot(x - (x1 + t * dx), y - (y1 + t * dy));
      if (d < best) best = d;
    }
    return best;
  }

  // ------------------------------------------------------------------ labels
  // Every label on a map is placed in one pass over all the layers (and a page's own labels, such as
  // the layer check's codes: VT.LabelPlacer.addSource), the most important first, each at its first
  // spot where it lies wholly inside the map, clear of the map's controls and of the labels placed
  // before it; a label with no such spot is left out. Importance (rank, lowest first): 0 a highlighted
  // feature (the project or row chosen); 1 a feature of a class the page names in `labelFirst` (the
  // completion maps: behind, the late projects) or a layer check's code of a feature with problems;
  // then the layer's `labelRank` (web/maps.py: the checked layer's codes 1.5, roads 2, others 3);
  // within a rank the worse class (later in the style order), then the bigger feature.
  // The labels are HTML in a pane above every layer's canvas, so no layer's features cover another
  // layer's labels. They are placed again after every move, zoom, load, highlight and layer shown or
  // hidden, and taken off while a zoom animates.
  var LABEL_FAMILY = 'system-ui, "Noto Sans CJK SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif';
  // per kind of label: its font, the padding and border around the text, and its height, in CSS
  // pixels, as venue-map.css (.vt-label) and check-table.css (.vt-code-label) draw it
  var LABEL_KINDS = {
    plain: { font: '600 12px ' + LABEL_FAMILY, pad: 6, h: 16 },
    code: { font: '600 11px ' + LABEL_FAMILY, pad: 10, h: 18 },
  };
  // clear space kept between labels, and between a label and a control or the map's edge, in CSS
  // pixels: wider side by side, where two names a few pixels apart read as one
  var LABEL_GAP_X = 8,
    LABEL_GAP_Y = 3;
  var LABEL_RANK = 3; // a layer's labels, unless its spec says otherwise
  var LINE_STOPS = [0.5, 0.375, 0.625, 0.25, 0.75, 0.125, 0.875]; // where along a line its label may go

  VT.LabelPlacer = function (engine) {
    var map = engine.map,
      self = this;
    this.engine = engine;
    this.map = map;
    this.sources = [];
    this.placed = [];
    this._widths = {};
    this._measure = document.createElement('canvas').getContext('2d');
    // over the layers' canvases (the overlay pane, 400), under popups (700); clicks go through
    this.pane = map.createPane('vtLabels');
    this.pane.style.zIndex = '450';
    this.pane.style.pointerEvents = 'none';
    map.on('zoomstart', function () {
      self.clear();
    });
    map.on('moveend resize overlayadd overlayremove', function () {
      self.place();
    });
  };

  // source: {candidates: function (placer) -> [label], placed: function ([label placed])}. A label:
  // {text, kind ('plain' | 'code'), rank, severity, size, className, layer, id, key (the feature it
  // names: one label a feature), and either item (a layer's item: spotsOf says where) or spots
  // ([[x, y, align]] in container pixels)}.
  VT.LabelPlacer.prototype.addSource = function (source) {
    this.sources.push(source);
    return source;
  };

  // The map's zoom-0 units to its container's pixels: x * k + dx, y * k + dy.
  VT.LabelPlacer.prototype.view = function () {
    var map = this.map,
      o = map.layerPointToContainerPoint(L.point(0, 0)),
      po = map.getPixelOrigin();
    return { k: Math.pow(2, map.getZoom()), dx: o.x - po.x, dy: o.y - po.y, size: map.getSize() };
  };

  // A label's width in CSS pixels, its padding and border included.
  VT.LabelPlacer.prototype.width = function (kind, text) {
    var key = kind + '\u0000' + text,
      w = this._widths[key];
    if (w === undefined) {
      var spec = LABEL_KINDS[kind] || LABEL_KINDS.plain;
      this._measure.font = spec.font;
      w = this._widths[key] = Math.ceil(this._measure.measureText(text).width) + spec.pad;
    }
    return w;
  };

  // Where an item's label may go, best first, in container pixels: [x, y, align] (align 'c': centred
  // on the point; 'r': starting just right of it). A polygon: its box's centre, then just above and
  // below it while that stays inside the box; a line: points along its longest part, from the middle
  // outwards (so a long road is named on the part in view); a point: beside it.
  VT.LabelPlacer.prototype.spotsOf = function (it, v, h) {
    var k = v.k,
      dx = v.dx,
      dy = v.dy,
      b = it.box,
      part = it.parts[0];
    if (!part) return [];
    if (part.t === 2) return [[part.rings[0][0] * k + dx + 6, part.rings[0][1] * k + dy, 'r']];
    if (part.t === 1) {
      return lineStops(it).map(function (p) {
        return [p[0] * k + dx, p[1] * k + dy, 'c'];
      });
    }
    var cx = ((b[0] + b[2]) / 2) * k + dx,
      cy = ((b[1] + b[3]) / 2) * k + dy,
      step = h + LABEL_GAP_Y;
    var out = [[cx, cy, 'c']];
    if (((b[3] - b[1]) * k) / 2 >= step + h / 2) out.push([cx, cy + step, 'c'], [cx, cy - step, 'c']);
    return out;
  };

  // LINE_STOPS along an item's longest line, in zoom-0 units (kept on the item: its shape is fixed)
  function lineStops(it) {
    if (it._stops) return it._stops;
    var best = null,
      bestLen = -1;
    it.parts.forEach(function (p) {
      if (p.t !== 1) return;
      var r = p.rings[0],
        len = 0;
      for (var i = 2; i < r.length; i += 2) len += Math.hypot(r[i] - r[i - 2], r[i + 1] - r[i - 1]);
      if (len > bestLen) {
        best = r;
        bestLen = len;
      }
    });
    var out = [];
    if (best) {
      LINE_STOPS.forEach(function (f) {
        var want = f * bestLen,
          run = 0;
        for (var i = 2; i < best.length; i += 2) {
          var seg = Math.hypot(best[i] - best[i - 2], best[i + 1] - best[i - 1]);
          if (run + seg >= want || i === best.length - 2) {
            var t = seg > 0 ? Math.max(0, Math.min(1, (want - run) / seg)) : 0;
            out.push([best[i - 2] + t * (best[i] - best[i - 2]), best[i - 1] + t * (best[i + 1] - best[i - 1])]);
            return;
          }
          run += seg;
        }
        out.push([best[0], best[1]]); // a line of one point
      });
    }
    return (it._stops = out);
  }

  // The map's controls (zoom, layers, scale, credit, legends) in container pixels: no label goes under one.
  VT.LabelPlacer.prototype._controlBoxes = function () {
    var box = this.map.getContainer().getBoundingClientRect(),
      out = [];
    Array.prototype.forEach.call(this.map.getContainer().querySelectorAll('.leaflet-control'), function (el) {
      var r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) out.push([r.left - box.left, r.top - box.top, r.right - box.left, r.bottom - box.top]);
    });
    return out;
  };

  function clashes(r, taken) {
    for (var i = 0; i < taken.length; i++) {
      var t = taken[i];
      if (r[0] < t[2] + LABEL_GAP_X && r[2] + LABEL_GAP_X > t[0] && r[1] < t[3] + LABEL_GAP_Y && r[3] + LABEL_GAP_Y > t[1]) return true;
    }
    return false;
  }

  VT.LabelPlacer.prototype.place = function () {
    var map = this.map,
      self = this;
    if (!map._loaded) return;
    var v = this.view(),
      W = v.size.x,
      H = v.size.y;
    var labels = [];
    this.sources.forEach(function (source, si) {
      (source.candidates(self) || []).forEach(function (c) {
        c.source = si;
        c.seq = labels.length;
        labels.push(c);
      });
    });
    labels.sort(function (a, b) {
      return a.rank - b.rank || (b.severity || 0) - (a.severity || 0) || (b.size || 0) - (a.size || 0) || a.seq - b.seq;
    });
    var taken = this._controlBoxes(),
      placed = [],
      named = {}; // the features labelled: one label each (a changed feature is on the change map twice)
    for (var i = 0; i < labels.length && placed.length < MAX_LABELS; i++) {
      var c = labels[i];
      if (c.key && named[c.key]) continue;
      var h = (LABEL_KINDS[c.kind] || LABEL_KINDS.plain).h,
        w = this.width(c.kind, c.text);
      var spots = c.spots || this.spotsOf(c.item, v, h);
      for (var j = 0; j < spots.length; j++) {
        var s = spots[j],
          x0 = Math.round(s[2] === 'r' ? s[0] : s[0] - w / 2),
          y0 = Math.round(s[1] - h / 2);
        var r = [x0, y0, x0 + w, y0 + h];
        if (r[0] < LABEL_GAP_Y || r[1] < LABEL_GAP_Y || r[2] > W - LABEL_GAP_Y || r[3] > H - LABEL_GAP_Y || clashes(r, taken)) continue;
        taken.push(r);
        c.rect = r;
        placed.push(c);
        if (c.key) named[c.key] = true;
        break;
      }
    }
    this._show(placed);
  };

  VT.LabelPlacer.prototype._show = function (placed) {
    var map = this.map,
      frag = document.createDocumentFragment();
    placed.forEach(function (c) {
      var el = document.createElement('div');
      el.className = 'vt-label' + (c.className ? ' ' + c.className : '');
      el.textContent = c.text;
      if (c.layer) el.setAttribute('data-layer', c.layer);
      if (c.id !== undefined && c.id !== null) el.setAttribute('data-feature', c.id);
      if (c.key) el.setAttribute('data-key', c.key);
      el.setAttribute('data-rank', String(c.rank));
      L.DomUtil.setPosition(el, map.containerPointToLayerPoint(L.point(c.rect[0], c.rect[1])));
      c.el = el;
      frag.appendChild(el);
    });
    this.pane.textContent = '';
    this.pane.appendChild(frag);
    this.placed = placed;
    map.getContainer().setAttribute('data-labels', String(placed.length));
    this.sources.forEach(function (source, si) {
      if (source.placed) source.placed(placed.filter(function (c) { return c.source === si; }));
    });
  };

  VT.LabelPlacer.prototype.clear = function () {
    this._show([]);
  };

  // The venue layers' own labels (spec.labels, from spec.labelMinZoom): the features in view big
  // enough at this zoom to carry one.
  function layerLabels(placer) {
    var engine = placer.engine,
      z = placer.map.getZoom(),
      v = placer.view(),
      k = v.k,
      W = v.size.x,
      H = v.size.y;
    var order = engine.styleOrder,
      first = engine.config.labelFirst || [],
      out = [];
    VT.layers.forEach(function (layer) {
      if (layer.tiled || !layer.spec.labels || !layer.isVisible() || z < (layer.spec.labelMinZoom || 0)) return;
      var rank = layer.spec.labelRank !== undefined ? layer.spec.labelRank : LABEL_RANK,
        chosen = layer._highlighted();
      layer.items.forEach(function (it) {
        // not the old shape of a modified feature (f.x): the feature is named on its new shape
        if (!it.f.l || !it.parts.length || it.f.x) return;
        var b = it.box,
          x0 = b[0] * k + v.dx,
          y0 = b[1] * k + v.dy,
          w = (b[2] - b[0]) * k,
          h = (b[3] - b[1]) * k;
        if (x0 + w < 0 || y0 + h < 0 || x0 > W || y0 > H) return;
        var isPoly = it.parts[0].t === 0;
        if (isPoly ? w < 36 || h < 14 : Math.max(w, h) < 80) return;
        out.push({
          text: it.f.l,
          kind: 'plain',
          item: it,
          layer: layer.spec.id,
          id: it.f.id,
          key: it.f.k || layer.spec.id + '/' + it.f.id, // a change names the twin's feature it is of
          rank: chosen.indexOf(it) >= 0 ? 0 : first.indexOf(it.f.c) >= 0 ? 1 : rank,
          severity: order.indexOf(it.f.c),
          size: w * h,
        });
      });
    });
    return out;
  }

  // ------------------------------------------------------------------ a layer drawn from vector tiles
  // A layer too large to load as GeoJSON (web/maps.py `uses_tiles`) is drawn tile by tile from the
  // API's Mapbox Vector Tiles at the version the layer's classes answer names; each feature's style
  // class (and popup members) comes from that answer, joined on the tile feature's `id` property.
  // The decoder (@mapbox/vector-tile and pbf, ES modules) arrives as VT.mvt from a module script.
  var mvtReady = new Promise(function (resolve) {
    if (VT.mvt) resolve();
    else window.addEventListener('vt-mvt-ready', function () { resolve(); }, { once: true });
  });

  VT.TiledLayer = L.GridLayer.extend({
    initialize: function (engine, spec) {
      L.GridLayer.prototype.initialize.call(this, {
        pane: spec.pane || 'overlayPane',
        tileSize: 256,
        updateWhenZooming: false,
        keepBuffer: 1,
      });
      this.engine = engine;
      this.spec = spec;
      this.tiled = true;
      this.params = L.extend({}, spec.params || {});
      this.items = [];
      this.classes = null;
      this.version = null;
      this.loaded = false;
      this.loading = true;
      this.drawn = 0;
      this.numberMatched = null;
      this._pendingTiles = 0;
      this._tiles2 = {}; // tile key -> {canvas, coords, feats}, for hit tests and redraws
      this._highlight = {};
      this._seq = 0;
      this.tileStats = { requested: 0, loaded: 0, features: 0, failed: 0 };
      this.on('tileunload', function (e) {
        delete this._tiles2[this._tileCoordsToKey(e.coords)];
        this._countDrawn();
      });
    },

    onAdd: function (map) {
      this._ready = this._loadClasses();
      L.GridLayer.prototype.onAdd.call(this, map);
    },

    isVisible: function () {
      return !!this._map;
    },

    // Tiles exist at whole zooms only; GridLayer's redraw() would ask for the map's own (0.25-step) zoom.
    _clampZoom: function (zoom) {
      return L.GridLayer.prototype._clampZoom.call(this, Math.round(zoom));
    },

    setParams: function (params) {
      L.extend(this.params, params);
      if (!this._map) return Promise.resolve();
      var self = this;
      this._ready = this._loadClasses();
      return this._ready.then(function () {
        self.redraw(); // the same tiles at a new version or classes (an immutable tile comes from the cache)
      });
    },

    _loadClasses: function () {
      var seq = ++this._seq,
        self = this;
      this.loading = true;
      this._classesPending = true;
      var q = query(this.params);
      return Promise.all([VT.fetchJSON(this.spec.classesUrl + (q ? '?' + q : '')), mvtReady])
        .then(function (res) {
          if (seq !== self._seq) return;
          self.classes = res[0];
          self.version = res[0].version;
        })
        .catch(function (err) {
          self.loadError = String(err && err.message ? err.message : err);
          VT.showMessage(fmt(self.engine.labels.load_failed || '{error}', { error: self.loadError }), true);
        })
        .finally(function () {
          if (seq === self._seq) self._classesPending = false;
          self._settle();
        });
    },

    _settle: function () {
      this.loading = this._classesPending || this._pendingTiles > 0;
      if (!this.loading) {
        this.loaded = true;
        // the GeoJSON layers clear the loading note when none is loading; this layer may finish last
        if (!VT.layers.some(function (l) { return l.loading; }) && !VT.messages.length) VT.showMessage('');
        this.fire('load');
        this.engine._changed();
      }
    },

    createTile: function (coords, done) {
      var canvas = L.DomUtil.create('canvas', 'vt-canvas vt-tile');
      var size = this.getTileSize(),
        dpr = window.devicePixelRatio || 1;
      canvas.width = size.x * dpr;
      canvas.height = size.y * dpr;
      canvas.setAttribute('data-layer', this.spec.id);
      var self = this,
        key = this._tileCoordsToKey(coords);
      this._pendingTiles++;
      this.loading = true;
      this._ready
        .then(function () {
          if (!self.version) return null;
          var url = self.spec.tiles.replace('{z}', coords.z).replace('{y}', coords.y).replace('{x}', coords.x);
          self.tileStats.requested++;
          return fetch(url + '?' + query({ version: self.version }), { credentials: 'same-origin' }).then(function (r) {
            if (!r.ok) throw new Error(r.status + ' ' + url);
            return r.arrayBuffer();
          });
        })
        .then(function (buf) {
          var feats = buf ? self._decode(buf) : [];
          if (buf) self.tileStats.loaded++;
          self.tileStats.features += feats.length;
          self._tiles2[key] = { canvas: canvas, coords: coords, feats: feats };
          self._paint(canvas, feats);
          self._countDrawn();
          done(null, canvas);
        })
        .catch(function (err) {
          self.tileStats.failed++;
          self.loadError = String(err && err.message ? err.message : err);
          done(err, canvas);
        })
        .finally(function () {
          self._pendingTiles--;
          self._settle();
        });
      return canvas;
    },

    // a tile's features for this layer: {f: {id, c, j, r, m}, parts (tile pixels), box}
    _decode: function (buf) {
      var tile = new VT.mvt.VectorTile(new VT.mvt.Pbf(new Uint8Array(buf)));
      var layer = tile.layers[this.spec.id];
      if (!layer) return [];
      var cls = this.classes || {},
        byId = cls.c || {},
        out = [];
      var scale = this.getTileSize().x / layer.extent;
      for (var i = 0; i < layer.length; i++) {
        var feature = layer.feature(i);
        var id = feature.properties.id;
        var f = { id: id, c: byId[id] || cls['default'] || 'default' };
        ['j', 'r', 'm'].forEach(function (k) {
          if (cls[k] && cls[k][id]) f[k] = cls[k][id];
        });
        var t = feature.type === 3 ? 0 : feature.type === 2 ? 1 : 2;
        var box = [Infinity, Infinity, -Infinity, -Infinity];
        var rings = feature.loadGeometry().map(function (ring) {
          var a = new Float64Array(ring.length * 2);
          for (var n = 0; n < ring.length; n++) {
            var x = ring[n].x * scale,
              y = ring[n].y * scale;
            a[2 * n] = x;
            a[2 * n + 1] = y;
            if (x < box[0]) box[0] = x;
            if (y < box[1]) box[1] = y;
            if (x > box[2]) box[2] = x;
            if (y > box[3]) box[3] = y;
          }
          return a;
        });
        // MVT rings are already wound exterior one way, holes the other: the non-zero fill keeps holes
        var parts = t === 0 ? [{ t: 0, rings: rings, n: 0 }] : rings.map(function (r) { return { t: t, rings: [r], n: 0 }; });
        out.push({ f: f, parts: parts, box: box, props: feature.properties });
      }
      return out;
    },

    _countDrawn: function () {
      var n = 0,
        tiles = this._tiles2;
      Object.keys(tiles).forEach(function (k) {
        n += tiles[k].feats.length;
      });
      this.drawn = n; // features drawn on the tiles in place (one cut by a tile edge counts per tile)
    },

    _isHighlighted: function (f) {
      var pi = this.engine.highlightProject;
      return !!this._highlight[f.id] || (pi !== null && pi !== undefined && !!f.j && f.j.indexOf(pi) >= 0);
    },

    // The GeoJSON layer's look: one batched path per style class, in the engine's style order.
    _paint: function (canvas, feats) {
      var ctx = canvas.getContext('2d'),
        dpr = window.devicePixelRatio || 1;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      var styles = this.engine.styles,
        layerStyle = this.spec.style || {},
        self = this;
      // a tile's features carry their properties (the level among them) as decoded
      var buckets = drawBuckets(this.engine, feats, function (it) { return it.props; });
      function trace(r, close) {
        ctx.moveTo(r[0], r[1]);
        for (var i = 2; i < r.length; i += 2) ctx.lineTo(r[i], r[i + 1]);
        if (close) ctx.closePath();
      }
      ctx.lineJoin = 'round';
      ctx.lineCap = 'round';
      buckets.forEach(function (pair) {
        var c = pair[0],
          list = pair[1];
        var st = L.extend({}, styles[c] || styles['default'] || {}, layerStyle, (layerStyle.byClass || {})[c] || {});
        ctx.setLineDash(st.dash || []);
        ctx.beginPath();
        var any = false;
        list.forEach(function (it) {
          it.parts.forEach(function (p) {
            if (p.t === 0) {
              any = true;
              p.rings.forEach(function (r) { trace(r, true); });
            }
          });
        });
        if (any) {
          if (st.fillOpacity > 0) {
            ctx.globalAlpha = st.fillOpacity;
            ctx.fillStyle = st.fill;
            ctx.fill('nonzero');
          }
          fillHatch(ctx, st);
          if (st.weight > 0) {
            ctx.globalAlpha = st.opacity === undefined ? 1 : st.opacity;
            ctx.strokeStyle = st.color;
            ctx.lineWidth = st.weight;
            ctx.stroke();
          }
        }
        ctx.beginPath();
        any = false;
        list.forEach(function (it) {
          it.parts.forEach(function (p) {
            if (p.t === 1) {
              any = true;
              trace(p.rings[0], false);
            }
          });
        });
        if (any) {
          if (st.casing) {
            ctx.globalAlpha = 1;
            ctx.strokeStyle = st.casing;
            ctx.lineWidth = (st.lineWeight || 4) + 2.5;
            ctx.stroke();
          }
          ctx.globalAlpha = st.lineOpacity === undefined ? 1 : st.lineOpacity;
          ctx.strokeStyle = st.lineColor || st.fill || st.color;
          ctx.lineWidth = st.lineWeight || 4;
          ctx.stroke();
          markLine(ctx, st);
        }
        ctx.beginPath();
        any = false;
        var rad = st.radius || 4;
        list.forEach(function (it) {
          it.parts.forEach(function (p) {
            if (p.t !== 2) return;
            any = true;
            var a = p.rings[0];
            for (var i = 0; i < a.length; i += 2) {
              ctx.moveTo(a[i] + rad, a[i + 1]);
              ctx.arc(a[i], a[i + 1], rad, 0, 2 * Math.PI);
            }
          });
        });
        if (any) {
          ctx.globalAlpha = st.fillOpacity > 0 ? Math.max(st.fillOpacity, 0.8) : 0.8;
          ctx.fillStyle = st.lineColor || st.fill;
          ctx.fill();
          ctx.globalAlpha = 1;
          ctx.lineWidth = 1;
          ctx.strokeStyle = st.color || '#333';
          ctx.stroke();
        }
        ctx.globalAlpha = 1;
        ctx.setLineDash([]);
      });
      var hl = feats.filter(function (it) { return self._isHighlighted(it.f); });
      if (hl.length) {
        ctx.beginPath();
        hl.forEach(function (it) {
          it.parts.forEach(function (p) { p.rings.forEach(function (r) { trace(r, p.t === 0); }); });
        });
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 7;
        ctx.stroke();
        ctx.strokeStyle = '#111827';
        ctx.lineWidth = 3;
        ctx.stroke();
      }
    },

    setHighlight: function (keys) {
      this._highlight = {};
      var self = this;
      (keys || []).forEach(function (k) {
        self._highlight[k] = true;
      });
      Object.keys(this._tiles2).forEach(function (k) {
        var t = self._tiles2[k];
        self._paint(t.canvas, t.feats);
      });
    },

    keyIndex: function () {
      return {};
    },

    boundsOf: function () {
      return null;
    },

    hit: function (latlng) {
      return this.hits(latlng, 1)[0] || null;
    },

    // the features under a point, the top-most first: hit-tested in the pixels of the tile it falls in
    hits: function (latlng, max) {
      var out = [];
      if (!this._map || this.spec.interactive === false || this._tileZoom === undefined) return out;
      var tz = this._tileZoom,
        size = this.getTileSize();
      var p = this._map.project(latlng, tz);
      var coords = L.point(Math.floor(p.x / size.x), Math.floor(p.y / size.y));
      coords.z = tz;
      var t = this._tiles2[this._tileCoordsToKey(coords)];
      if (!t) return out;
      var x = p.x - coords.x * size.x,
        y = p.y - coords.y * size.y;
      var k = this._map.getZoomScale(this._map.getZoom(), tz); // screen pixels per tile pixel
      var tol = 5 / k;
      // in the order they are drawn (_paint), the top-most first
      var drawn = [];
      drawBuckets(this.engine, t.feats, function (f) { return f.props; }).forEach(function (pair) {
        drawn = drawn.concat(pair[1]);
      });
      for (var i = drawn.length - 1; i >= 0; i--) {
        var it = drawn[i];
        var st = this.engine.styles[it.f.c] || {};
        if (st.interactive === false) continue;
        var m = tol + ((st.lineWeight || 4) / 2 + (st.radius || 4)) / k,
          bx = it.box;
        if (x < bx[0] - m || x > bx[2] + m || y < bx[1] - m || y > bx[3] + m) continue;
        if (hitItem(it, x, y, tol, st, k)) {
          out.push(it.f);
          if (max && out.length >= max) return out;
        }
      }
      return out;
    },
  });

  // ------------------------------------------------------------------ popups
  function chip(colour, text) {
    return '<span class="vt-chip" style="background:' + esc(colour) + '"></span>' + esc(text);
  }

  function bar(actual, planned) {
    var a = Math.max(0, Math.min(100, actual || 0)),
      p = Math.max(0, Math.min(100, planned || 0));
    return (
      '<div class="vt-bar"><div class="vt-bar-fill" style="width:' + a.toFixed(1) + '%"></div>' +
      '<div class="vt-bar-plan" style="left:' + p.toFixed(1) + '%"></div></div>'
    );
  }
  VT.bar = bar;

  // A project's code, bold; a link to its page of the date shown (GET /projects/{code}?f=html) when
  // the page has a server to ask (config.projectUrl; an exported file has none).
  function projectCode(engine, code) {
    var base = engine.config.projectUrl;
    if (!base) return '<b>' + esc(code) + '</b>';
    var href = base + encodeURIComponent(code) + '?' + query({ f: 'html', date: engine.config.date, lang: engine.lang });
    return '<a class="vt-project-link" href="' + esc(href) + '" data-project-link="' + esc(code) + '" title="' +
      esc(engine.labels.project_open || '') + '"><b>' + esc(code) + '</b></a>';
  }

  var POPUPS = {
    completion: function (engine, f, layer) {
      var L_ = engine.labels,
        html = popupHead(engine, f, layer);
      var projects = (f.j || []).map(function (i) {
        return engine.projects[i];
      }).filter(Boolean);
      if (!projects.length) return html + '<p class="vt-muted">' + esc(L_.status_none) + '</p>';
      projects.forEach(function (p) {
        var st = engine.styles[p.status] || {};
        html +=
          '<div class="vt-popup-project">' +
          '<div class="vt-popup-status">' + chip(st.fill || '#999', L_['status_' + p.status] || p.status) + '</div>' +
          '<div>' + projectCode(engine, p.code) + ' ' + esc(p.name) + '</div>' +
          '<table class="vt-kv">' +
          '<tr><th>' + esc(L_.unit) + '</th><td>' + esc(p.unit || '–') + (p.person ? ' · ' + esc(p.person) : '') + '</td></tr>' +
          '<tr><th>' + esc(L_.progress) + '</th><td>' + esc(fmt(L_.percent_vs_planned, { actual: pct(p.actual), planned: pct(p.planned) })) + bar(p.actual, p.planned) + '</td></tr>' +
          // how far behind its plan the project is today: a row of its own, not beside the forecast
          // finish (where "29 days late" read as how late that finish is)
          // a row of its own from a day behind: 0.2 days read "0 days" in red on an on-track project
          (Math.round(p.days_late) >= 1 && !p.done ? '<tr class="vt-behind-plan" data-days-late="' + esc(p.days_late) + '"><th>' + esc(L_.behind_plan) +
            '</th><td><span class="vt-late">' + esc(fmt(L_.n_days, { n: Math.round(p.days_late) })) + '</span></td></tr>' : '') +
          (p.planned_finish ? '<tr><th>' + esc(L_.planned_finish) + '</th><td>' + esc(p.planned_finish) + '</td></tr>' : '') +
          // a project reported done says when it was, and has no forecast
          (p.done ? '<tr class="vt-done-reported" data-done-reported="true"><th></th><td>' + esc(p.done) + '</td></tr>' :
          '<tr><th>' + esc(L_.forecast) + '</th><td>' + esc(p.forecast || L_.not_forecast) +
          (p.after_opening ? ' <span class="vt-late">⚠ ' + esc(p.after_opening_text || L_.after_opening) + '</span>' : '') +
          (p.p_late !== null && p.p_late !== undefined && p.forecast_low ?
            '<div class="vt-muted">' + esc(fmt(L_.late_chance, { p: pct(100 * p.p_late), low: p.forecast_low, high: p.forecast_high })) + '</div>' : '') +
          // how the forecast was made, worded by the server as the project's page words it
          (p.basis ? '<div class="vt-muted vt-basis" data-field="basis">' + esc(p.basis) + '</div>' : '') +
          '</td></tr>') +
          (p.stale ? '<tr><th></th><td class="vt-stale" data-stale="true">' +
            esc(p.last_report ? fmt(L_.stale, { date: p.last_report }) : L_.stale_never) + '</td></tr>' : '') +
          (p.evidence ? '<tr class="vt-evidence-flag"><th>' + esc(L_.imagery) + '</th><td><span class="vt-badge vt-badge-imagery">' + esc(L_.imagery_badge) + '</span> <span class="vt-late">' + esc(p.evidence) + '</span></td></tr>' : '') +
          '</table></div>';
      });
      return html;
    },
    check: function (engine, f, layer) {
      var L_ = engine.labels,
        html = popupHead(engine, f, layer);
      var st = engine.styles[f.c] || {};
      html += '<div class="vt-popup-status">' + chip(st.fill || '#999', L_['check_' + f.c] || f.c) + '</div>';
      if (f.r && f.r.length) {
        html += '<ul class="vt-reasons">' + f.r.map(function (r) { return '<li>' + esc(r) + '</li>'; }).join('') + '</ul>';
      }
      html += attributeTable(engine, layer.spec.id, f.p || {}, f.m || []);
      return html;
    },
    changes: function (engine, f, layer) {
      var L_ = engine.labels,
        html = popupHead(engine, f, layer);
      var st = engine.styles[f.c] || {};
      html += '<div class="vt-popup-status">' + chip(st.fill || st.color || '#999', L_[f.c] || f.c) + '</div>';
      if (f.d && f.d.length) {
        html += '<table class="vt-kv vt-diff"><tr><th colspan="4">' + esc(L_.changed_fields) + '</th></tr>';
        f.d.forEach(function (row) {
          html += '<tr data-field="' + esc(row[0]) + '"><th>' + esc(row[0]) + '</th><td class="vt-old">' + esc(row[1]) +
            '</td><td class="vt-arrow">→</td><td class="vt-new">' + esc(row[2]) + '</td></tr>';
        });
        html += '</table>';
      }
      if (f.gc) html += '<p class="vt-muted">' + esc(L_.geometry_changed) + '</p>';
      return html;
    },
    plain: function (engine, f, layer) {
      return popupHead(engine, f, layer) + attributeTable(engine, layer.spec.id, f.p || {}, []);
    },
  };

  function popupHead(engine, f, layer) {
    var p = f.p || {};
    var name = engine.lang === 'en' ? p.name_en || p.name_zh : p.name_zh || p.name_en;
    // a change names the twin layer it belongs to, not the map layer of changes
    var title = (f.layer && (engine.config.layerTitles || {})[f.layer]) || layer.spec.title;
    return (
      '<div class="vt-popup-title">' + esc(name || p.code || f.id) + '</div>' +
      '<div class="vt-popup-sub">' + esc(title) + ' · ' + esc(p.code || f.id) +
      (p.level ? ' · <span class="vt-popup-level">' + esc(engine.labels['level_' + p.level] || p.level) + '</span>' : '') +
      '</div>'
    );
  }

  function attributeTable(engine, layerId, props, missing) {
    var fields = (engine.fields || {})[layerId] || [];
    if (!fields.length) return '';
    var html = '<table class="vt-kv">';
    fields.forEach(function (fd) {
      var v = props[fd.name];
      var isMissing = missing.indexOf(fd.name) >= 0;
      if ((v === undefined || v === null || v === '') && !isMissing && !engine.showEmpty) return;
      // a value the schema names (FieldSpec.labels): its label, the code kept in the title
      var code = v !== undefined && v !== null && !Array.isArray(v) && fd.labels && fd.labels[String(v)] !== undefined ? String(v) : null;
      if (code !== null) v = fd.labels[code];
      if (Array.isArray(v)) v = v.join(', ');
      if (typeof v === 'boolean') v = v ? engine.labels.yes : engine.labels.no;
      if (typeof v === 'number') v = v.toLocaleString(engine.lang === 'en' ? 'en' : 'zh-CN');
      html +=
        '<tr' + (isMissing ? ' class="vt-missing"' : '') + '><th>' + esc(fd.title) + '</th><td' +
        (code !== null ? ' data-code="' + esc(code) + '" title="' + esc(code) + '"' : '') + '>' +
        (v === undefined || v === null || v === '' ? '—' : esc(v) + (fd.unit ? ' ' + esc(fd.unit) : '')) + '</td></tr>';
    });
    return html + '</table>';
  }

  // ------------------------------------------------------------------ the engine: one per page
  VT.Engine = function (map, config) {
    this.map = map;
    this.config = config;
    this.lang = config.lang;
    this.labels = config.labels || {};
    this.styles = config.styles || {};
    this.styleOrder = config.styleOrder || Object.keys(this.styles);
    this.projects = config.projects || [];
    this.fields = config.fields || {};
    this.kind = config.kind || 'plain';
    this.layers = {};
    this._idleWaiters = [];
    var self = this;
    VT.engine = this;
    L.control.zoom({ zoomInTitle: this.labels.zoom_in, zoomOutTitle: this.labels.zoom_out }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    // A north arrow for paper (venue-map.css shows it only in print, where the zoom buttons were).
    var North = L.Control.extend({
      options: { position: 'topleft' },
      onAdd: function () {
        var el = L.DomUtil.create('div', 'vt-north');
        el.innerHTML =
          '<svg width="22" height="26" viewBox="0 0 22 26" aria-hidden="true">' +
          '<path d="M11 1 L19 25 L11 19 L3 25 Z" fill="#111" stroke="#111" stroke-width="1" stroke-linejoin="round"/>' +
          '<path d="M11 1 L3 25 L11 19 Z" fill="#fff"/></svg><b>' + esc(self.labels.north || 'N') + '</b>';
        return el;
      },
    });
    new North().addTo(map);
    if (map.attributionControl) {
      // The page's own credit (product, data version, positions approximate), not Leaflet's prefix.
      map.attributionControl.setPrefix(false);
      if (config.attribution) map.attributionControl.addAttribution(esc(config.attribution));
    }
    if (config.imagery && VT.Imagery) this.imagery = new VT.Imagery(this, config.imagery);
    this.labelPlacer = new VT.LabelPlacer(this);
    this.labelPlacer.addSource({ candidates: layerLabels });
    if (config.bounds) {
      var b = config.bounds;
      map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [10, 10], animate: false });
    }
    // Printing (venue-map.css): the map fills the printed page's width. Its box on paper has other
    // proportions than the screen's (281 : 172, A4's and A3's alike), so on `beforeprint` the map's
    // box takes those proportions at the screen's scale, as tall as on screen and wider (or as wide
    // and taller), about the same centre: all the screen showed is printed, and more of the venue
    // to its sides. CSS zoom scales that box to the paper (more on A3, venue-map.css). The venue
    // layers are not drawn again: each layer's canvas already reaches beyond the view by PAD of it
    // on every side, and Chromium printed a canvas drawn again on `beforeprint` blank. A window
    // too small for that (800 x 600, a phone) lays the map out at the printed box's size, the venue
    // fitted in it, draws its canvases and labels again at once and prints each canvas as an image
    // of itself (its window's box scaled up printed a small map with no labels). After printing the
    // screen's box and view come back.
    var printed = null; // the screen's box while the map is laid out for paper
    window.addEventListener('beforeprint', function () {
      var box = map.getContainer();
      if (!printed) {
        // the screen's size as Leaflet has it (print media may already be in force: a test's)
        var w = map.getSize().x,
          h = map.getSize().y;
        printed = { center: map.getCenter(), zoom: map.getZoom(), size: L.point(w, h) };
        var probe = document.createElement('div');
        probe.style.cssText =
          'position:absolute;visibility:hidden;width:var(--vt-print-map-w);height:var(--vt-print-map-h)';
        document.body.appendChild(probe);
        var pw = probe.offsetWidth,
          ph = probe.offsetHeight;
        probe.remove();
        // the A4 box's size, whichever paper's box the probe took (print media emulated in a tall
        // window takes A3's): the zoom to A3 is the CSS's
        var paper = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--vt-print-paper-scale')) || 1;
        pw /= paper;
        ph /= paper;
        var ratio = pw / ph,
          most = 1 + 2 * PAD - 0.05; // what the canvases hold, less a margin
        var W = Math.max(w, Math.round(h * ratio)),
          H = Math.max(h, Math.round(w / ratio));
        // A window too small for that (800 x 600, a phone): the map is laid out at the printed
        // box's own size in CSS pixels, the screen's view fitted in it, and drawn again at once
        // (its canvases and labels, synchronously, before Chromium paints the page for paper): the
        // window's box scaled up printed a small map with no labels, which had had no room.
        var redraw = W > w * most || H > h * most;
        if (redraw) {
          var view = map.getBounds();
          W = Math.round(pw);
          H = Math.round(ph);
        }
        box.style.setProperty('width', W + 'px', 'important');
        box.style.setProperty('height', H + 'px', 'important');
        box.style.setProperty('--vt-print-zoom', Math.min(pw / W, ph / H).toFixed(4));
        box.classList.add('vt-print-drawn');
        self.printing = true; // the venue layers keep their canvases (VenueLayer._onMoveEnd)
        map.invalidateSize({ pan: true });
        if (redraw) {
          // The survey imagery's tiles at the printed box's size and zoom are not loaded yet, and
          // Chromium paints the page for paper as soon as beforeprint returns: the orthophoto printed
          // as patches of the window's tiles and blank squares. Keeping the window's zoom would not
          // do (the printed box is larger than the window's map: tiles beyond its view are not loaded
          // either, and the venue would print small). So this path prints the venue without the
          // imagery, the same on every print, and the print head says so (afterprint puts it back).
          printed.hidden = self.imagery ? self.imagery.tiledShown() : [];
          printed.hidden.forEach(function (l) {
            map.removeLayer(l);
          });
          // the venue as the page opens on it (config.bounds), else what the window showed
          var b = config.bounds;
          map.fitBounds(b ? [[b[1], b[0]], [b[3], b[2]]] : view, { padding: [10, 10], animate: false });
          VT.layers.forEach(function (l) {
            if (!l._reset || !l._canvas) return;
            l._reset();
            // Chromium prints a canvas drawn in beforeprint blank: its picture as an image instead
            var img = document.createElement('img');
            img.src = l._canvas.toDataURL();
            img.className = l._canvas.className + ' vt-print-canvas';
            img.style.cssText = l._canvas.style.cssText;
            l._canvas.parentNode.insertBefore(img, l._canvas);
            l._canvas.style.display = 'none';
          });
          self.placeLabels();
        }
      }
      self.fillPrintHead();
      var head = document.getElementById('vt-print-head');
      if (head && printed && printed.hidden && printed.hidden.length && self.labels.print_imagery_left_out) {
        L.DomUtil.create('div', 'vt-print-foot vt-print-no-imagery', head).textContent = self.labels.print_imagery_left_out;
      }
      // The panel's collapsed sections (the completion map's "By responsible unit", its at-risk
      // projects) print open: a leader's paper needs them. Those opened here close again after printing.
      document.querySelectorAll('details.vt-section:not([open]), #vt-panel details.vt-at-risk:not([open])').forEach(function (d) {
        d.setAttribute('data-vt-print-opened', '');
        d.open = true;
      });
      document.body.classList.add('vt-print');
    });
    window.addEventListener('afterprint', function () {
      var box = map.getContainer();
      box.style.removeProperty('--vt-print-zoom');
      box.classList.remove('vt-print-drawn');
      if (printed) {
        // back to the screen's size, set as such for the moment (print media may still be in
        // force: a test's), and to its view; the layers draw again
        box.style.setProperty('width', printed.size.x + 'px', 'important');
        box.style.setProperty('height', printed.size.y + 'px', 'important');
        self.printing = false;
        map.invalidateSize({ pan: true });
        (printed.hidden || []).forEach(function (l) {
          l.addTo(map);
        });
        map.setView(printed.center, printed.zoom, { animate: false });
        printed = null;
      }
      L.Util.requestAnimFrame(function () {
        if (printed) return; // printing again
        box.style.removeProperty('width');
        box.style.removeProperty('height');
      });
      document.querySelectorAll('img.vt-print-canvas').forEach(function (img) {
        if (img.nextSibling && img.nextSibling.style) img.nextSibling.style.display = '';
        img.remove();
      });
      document.querySelectorAll('details[data-vt-print-opened]').forEach(function (d) {
        d.removeAttribute('data-vt-print-opened');
        d.open = false;
      });
      document.body.classList.remove('vt-print');
    });
    map.on('click', function (e) {
      self.onClick(e);
    });
    // Without a mouse: the map, reached by Tab, pans with the arrow keys and zooms with + and −
    // (Leaflet), shows a cross at its centre, and Enter opens the popup of what lies under the cross
    // as a click there would (Tab then reaches the popup's links; Escape closes it).
    var box = map.getContainer();
    if (this.labels.map_keys) {
      box.setAttribute('data-keys-hint', this.labels.map_keys);
      box.setAttribute('aria-label', this.labels.map_keys);
    }
    map.on('popupopen popupclose', function (e) {
      box.classList.toggle('vt-popup-open', e.type === 'popupopen'); // the cross and its note give way
    });
    box.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape' && ev.target !== box && ev.target.closest('.leaflet-popup')) {
        map.closePopup(); // from within the popup too (Leaflet's Escape needs the map focused), back to the map
        box.focus();
        return;
      }
      if (ev.key !== 'Enter' || ev.target !== box) return;
      ev.preventDefault();
      self.onClick({ latlng: map.getCenter() });
    });
    map.on('mousemove', L.Util.throttle(function (e) {
      var over = self.hitAll(e.latlng);
      map.getContainer().style.cursor = over ? 'pointer' : '';
    }, 60));
    this.fillPrintHead(); // also before printing (the timeline's checkpoint moves)
    this.wirePanel(document);
    // a map with nothing to draw says why over it (the completion map of a twin without venue features)
    this.showNoData(document.querySelector('#vt-panel-body [data-no-data]'));
  };

  // Place every label on the map again (VT.LabelPlacer).
  VT.Engine.prototype.placeLabels = function () {
    if (this.labelPlacer) this.labelPlacer.place();
  };

  VT.Engine.prototype.addLayer = function (spec) {
    var layer = spec.tiles ? new VT.TiledLayer(this, spec) : new VT.VenueLayer(this, spec);
    this.layers[spec.id] = layer;
    VT.layers.push(layer);
    return layer;
  };

  VT.Engine.prototype.hitAll = function (latlng) {
    var order = VT.layers.slice().reverse();
    for (var i = 0; i < order.length; i++) {
      var f = order[i].isVisible() && order[i].hit(latlng);
      if (f) return { layer: order[i], feature: f };
    }
    return null;
  };

  // Every feature under a point, over the visible layers, the top-most first: [{layer, feature}].
  VT.Engine.prototype.hitsAt = function (latlng) {
    var out = [];
    VT.layers.slice().reverse().forEach(function (layer) {
      if (!layer.isVisible()) return;
      layer.hits(latlng).forEach(function (f) {
        out.push({ layer: layer, feature: f });
      });
    });
    return out;
  };

  // A feature's popup as HTML; its attributes must be there (see withAttributes).
  VT.Engine.prototype.popupHtml = function (f, layer) {
    return (POPUPS[layer.spec.popup || this.kind] || POPUPS.plain)(this, f, layer);
  };

  // A big layer is sent without attributes: read a feature's from the API (items endpoint) when it is
  // clicked. Resolves with the feature, its attributes in f.p.
  VT.Engine.prototype.withAttributes = function (f, layer) {
    if (f.p || !layer.spec.itemUrl) return Promise.resolve(f);
    var at = layer.params.date ? { asof: layer.params.date } : { version: layer.params.version };
    return VT.fetchJSON(layer.spec.itemUrl + encodeURIComponent(f.id) + '?' + query(at)).then(function (item) {
      f.p = item.properties || {};
      return f;
    });
  };

  VT.Engine.prototype.onClick = function (e) {
    // A page may list every feature under a click (web/static/check-table.js sets stackHandler).
    if (this.stackHandler) {
      var all = this.hitsAt(e.latlng);
      if (all.length > 1) return this.stackHandler(e.latlng, all);
    }
    var found = this.hitAll(e.latlng);
    if (!found) return;
    var self = this,
      f = found.feature,
      layer = found.layer;
    var popup = L.popup(VT.popupOptions(this.map, { maxWidth: 360, className: 'vt-popup' })).setLatLng(e.latlng);
    if (f.p || !layer.spec.itemUrl) {
      popup.setContent(this.popupHtml(f, layer)).openOn(this.map);
      return;
    }
    popup.setContent('<div class="vt-muted">' + esc(this.labels.loading || '…') + '</div>').openOn(this.map);
    this.withAttributes(f, layer)
      .then(function () {
        popup.setContent(self.popupHtml(f, layer));
        popup.update();
      })
      .catch(function (err) {
        popup.setContent('<div class="vt-error">' + esc(fmt(self.labels.load_failed || '{error}', { error: err.message })) + '</div>');
      });
  };

  VT.Engine.prototype.highlight = function (keysByLayer) {
    var self = this;
    Object.keys(this.layers).forEach(function (id) {
      self.layers[id].setHighlight((keysByLayer || {})[id] || []);
    });
    this.placeLabels(); // a highlighted feature's label goes first
  };

  // Zoom to a lon/lat bbox and outline features given as "mapLayer:featureKey" keys.
  VT.Engine.prototype.zoomTo = function (keys, bbox) {
    var byLayer = {};
    (keys || []).forEach(function (key) {
      var cut = key.indexOf(':');
      var layer = key.slice(0, cut),
        id = key.slice(cut + 1);
      (byLayer[layer] = byLayer[layer] || []).push(id);
    });
    this.highlight(byLayer);
    if (bbox && bbox.length === 4) {
      this.map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], { padding: [60, 60], maxZoom: 18 });
    }
  };

  // The map's printed page (venue-map.css) is headed by what the paper needs to stand alone: the
  // page's title and date (or versions), the legend with its counts, and the panel's foot (positions
  // approximate). Taken from the panel as it is when printing: the timeline's checkpoint moves.
  VT.Engine.prototype.fillPrintHead = function () {
    var head = document.getElementById('vt-print-head');
    var panel = document.getElementById('vt-panel');
    if (!head || !panel) return;
    head.textContent = '';
    var box = this.map.getContainer();
    if (head.nextElementSibling !== box) box.parentNode.insertBefore(head, box); // after the layer check's table
    var title = panel.querySelector('.vt-head .vt-title'),
      sub = panel.querySelector('.vt-head .vt-sub'),
      step = document.getElementById('vt-step-label'),
      legend = panel.querySelector('#vt-panel-body ul.vt-legend'),
      foot = panel.querySelector('.vt-foot');
    var top = L.DomUtil.create('div', 'vt-print-title', head);
    if (title) L.DomUtil.create('b', '', top).textContent = title.textContent;
    var when = [sub && sub.textContent, step && step.textContent.trim()].filter(Boolean).join(' · ');
    if (when) L.DomUtil.create('span', 'vt-print-when', top).textContent = when;
    if (legend) {
      // a copy for paper: none of the panel's ids, classes or data (scripts and tests find the panel's)
      var copy = document.createElement('ul');
      copy.className = 'vt-print-legend';
      copy.innerHTML = legend.innerHTML;
      copy.querySelectorAll('*').forEach(function (el) {
        Array.prototype.slice.call(el.attributes).forEach(function (a) {
          if (a.name === 'id' || a.name.indexOf('data-') === 0) el.removeAttribute(a.name);
        });
      });
      head.appendChild(copy);
    }
    if (foot && foot.textContent.trim()) {
      var note = L.DomUtil.create('div', 'vt-print-foot', head);
      note.innerHTML = foot.innerHTML;
    }
    // and every printed page (the panel's too, when it runs over) says what it is, of when, and
    // which page of how many: in the page's top margin
    var running = document.getElementById('vt-print-running');
    if (!running) {
      running = document.createElement('style');
      running.id = 'vt-print-running';
      document.head.appendChild(running);
    }
    var line = [title && title.textContent.trim(), when].filter(Boolean).join(' · ');
    var quoted = '"' + line.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/[\r\n]+/g, ' ') + '"';
    running.textContent =
      '@page { @top-left { content: ' + quoted + '; font-size: 8pt; color: #444; vertical-align: bottom; } ' +
      '@top-right { content: counter(page) " / " counter(pages); font-size: 8pt; color: #444; vertical-align: bottom; } }';
  };

  // An element a click shows on the map (a late project's or a unit's row, a layer check's table
  // row) is reached by Tab and acted on by Enter or Space too, not by a click alone; the focus ring
  // is venue-map.css's [data-keyed]:focus-visible.
  VT.keyActivated = function (el) {
    el.tabIndex = 0;
    el.setAttribute('data-keyed', '');
    el.addEventListener('keydown', function (ev) {
      if (ev.target !== el || (ev.key !== 'Enter' && ev.key !== ' ')) return;
      ev.preventDefault();
      el.click();
    });
  };

  VT.Engine.prototype.wirePanel = function (root) {
    var self = this;
    Array.prototype.forEach.call(root.querySelectorAll('[data-zoom]'), function (el) {
      VT.keyActivated(el);
      el.addEventListener('click', function (ev) {
        if (ev.target.closest && ev.target.closest('a[href]')) return; // a link (a project's page) is followed
        ev.preventDefault();
        var keys = (el.getAttribute('data-keys') || '').split('|').filter(Boolean);
        var bbox = (el.getAttribute('data-zoom') || '').split(',').filter(Boolean).map(Number);
        var project = el.getAttribute('data-project-index');
        Array.prototype.forEach.call(document.querySelectorAll('.vt-selected'), function (s) {
          s.classList.remove('vt-selected');
        });
        el.classList.add('vt-selected');
        self.highlightProject = project === null ? null : parseInt(project, 10);
        self.zoomTo(keys, bbox);
      });
    });
  };

  VT.Engine.prototype.setPanel = function (html) {
    var body = document.getElementById('vt-panel-body');
    if (!body) return;
    body.innerHTML = html;
    this.wirePanel(body);
  };

  // Over the map, the words of a panel's no-data section (`section`, null: none), so an empty map
  // never reads as "nothing there"; a status region, so a screen reader says it when it changes.
  VT.Engine.prototype.showNoData = function (section) {
    var box = this._noData;
    if (!box) {
      box = this._noData = L.DomUtil.create('div', 'vt-no-data-map', this.map.getContainer());
      box.setAttribute('role', 'status');
      L.DomEvent.disableClickPropagation(box);
    }
    box.textContent = '';
    box.hidden = !section;
    if (!section) return;
    L.DomUtil.create('b', '', box).textContent = section.querySelector('h2').textContent;
    L.DomUtil.create('span', '', box).textContent = section.querySelector('p').textContent;
  };

  VT.Engine.prototype.isIdle = function () {
    var visible = VT.layers.filter(function (l) {
      return l.isVisible();
    });
    return VT.pending === 0 && visible.every(function (l) { return l.loaded && !l.loading; });
  };

  VT.Engine.prototype._changed = function () {
    if (!this.isIdle()) return;
    var waiters = this._idleWaiters;
    this._idleWaiters = [];
    waiters.forEach(function (w) { w(); });
  };

  VT.Engine.prototype.whenIdle = function () {
    var self = this;
    return new Promise(function (resolve) {
      if (self.isIdle()) resolve();
      else self._idleWaiters.push(resolve);
    });
  };

  // What is drawn, per layer: for tests and the benchmark.
  VT.stats = function () {
    var out = {};
    VT.layers.forEach(function (l) {
      out[l.spec.id] = {
        visible: l.isVisible(),
        loaded: l.tiled ? l.tileStats.features : l.items.length,
        features: l.tiled ? l.drawn : countFeatures(l),
        tiles: l.tiled ? L.extend({ version: l.version }, l.tileStats) : null,
        drawn: l.drawn,
        numberMatched: l.numberMatched,
        bbox: l.bbox || null,
        timing: l.timing || null,
        params: l.params,
        error: l.loadError || null,
      };
    });
    return out;
  };

  function countFeatures(layer) {
    // entries that are not features of their own (e.g. the dashed old shape of a modified feature)
    return layer.items.filter(function (it) { return !it.f.x; }).length;
  }

  VT.isIdle = function () {
    return !!VT.engine && VT.engine.isIdle();
  };

  // ------------------------------------------------------------------ timeline
  VT.Timeline = function (engine, cfg) {
    this.engine = engine;
    this.cfg = cfg;
    this.index = cfg.index;
    this.timer = null;
    var self = this;
    this.slider = document.getElementById('vt-slider');
    this.label = document.getElementById('vt-step-label');
    this.playBtn = document.getElementById('vt-play');
    if (this.slider) {
      this.slider.addEventListener('input', function () {
        self.go(parseInt(self.slider.value, 10));
      });
    }
    var prev = document.getElementById('vt-prev'),
      next = document.getElementById('vt-next');
    if (prev) prev.addEventListener('click', function () { self.stop(); self.go(self.index - 1); });
    if (next) next.addEventListener('click', function () { self.stop(); self.go(self.index + 1); });
    if (this.playBtn) this.playBtn.addEventListener('click', function () { self.timer ? self.stop() : self.play(); });
    // The step shown is in the address (#2026-10-06) and in the language switch's link, so the other
    // language (or a reload, or the address sent on) opens on the same checkpoint, not the first.
    var wanted = decodeURIComponent(window.location.hash.slice(1));
    cfg.steps.forEach(function (step, i) {
      if (step.date === wanted) self.index = i;
    });
    VT.timeline = this;
    // The panel the page came with holds the figures of its own step (web/maps.py timeline_map).
    var body = document.getElementById('vt-panel-body');
    if (body) body.dataset.date = cfg.steps[cfg.index].date;
    this.go(this.index, true);
  };

  // The panel's figures are of the date in its data-date. The step's heading changes at once, the
  // figures when they come: until then the panel is marked busy and dimmed (they are another date's),
  // and a load that fails takes them away and says so, rather than leave the last checkpoint's
  // figures under the new date for good.
  VT.Timeline.prototype.panelLoading = function (busy) {
    var body = document.getElementById('vt-panel-body');
    if (!body) return;
    if (busy) body.setAttribute('aria-busy', 'true');
    else body.removeAttribute('aria-busy');
    body.style.opacity = busy ? '0.45' : '';
  };

  VT.Timeline.prototype.go = function (i, first) {
    var steps = this.cfg.steps;
    i = Math.max(0, Math.min(steps.length - 1, i));
    if (i === this.index && !first) return Promise.resolve();
    this.index = i;
    var step = steps[i],
      engine = this.engine,
      self = this;
    if (this.slider) this.slider.value = String(i);
    if (this.label) this.label.textContent = step.label;
    var langSwitch = document.querySelector('a[data-lang-switch]');
    if (langSwitch) langSwitch.hash = step.date;
    // The completion map link opens on the checkpoint read here, not on today.
    var toMap = document.querySelector('a[data-nav="completion"]');
    if (toMap) {
      var target = new URL(toMap.href, window.location.href);
      target.searchParams.set('date', step.date);
      toMap.href = target.toString();
    }
    if (window.history.replaceState && window.location.hash !== '#' + step.date) {
      window.history.replaceState(null, '', '#' + step.date);
    }
    engine.config.date = step.date; // the date a popup's project link opens its page on
    if (engine.imagery) engine.imagery.showFor(step.date);
    this.panelLoading(true);
    var panel;
    if (step.noData) {
      // before the twin's history: the panel route answers 404 and the layers draw nothing; the
      // step's own panel says why (web/maps.py _no_data_panel)
      panel = Promise.resolve({ html: step.noData, projects: [] });
    } else if (this.cfg.embedded) {
      var data = this.cfg.embedded[step.date];
      panel = Promise.resolve(data);
    } else {
      panel = VT.fetchJSON(this.cfg.panelUrl + '?' + query({ date: step.date, lang: engine.lang }));
    }
    var seq = (this._seq = (this._seq || 0) + 1);
    var loads = Object.keys(engine.layers).map(function (id) {
      var layer = engine.layers[id];
      return layer.spec.stepParam ? layer.setParams({ date: step.date }) : Promise.resolve();
    });
    engine.highlightProject = null; // project indices are per date
    function shown(html, projects) {
      engine.projects = projects;
      engine.setPanel(html);
      var body = document.getElementById('vt-panel-body');
      if (body) body.dataset.date = step.date;
      self.panelLoading(false);
      engine.showNoData(document.querySelector('#vt-panel-body [data-no-data]'));
      engine.map.closePopup();
    }
    return panel.then(function (data) {
      if (seq !== self._seq) return;
      shown(data.html, data.projects || []);
      return Promise.all(loads);
    }).catch(function (err) {
      var said = fmt(engine.labels.load_failed || '{error}', { error: err.message || err });
      var now = document.getElementById('vt-panel-body');
      if (seq === self._seq && now && now.dataset.date !== step.date) {
        // no figures of another date under this step's heading: its own could not be read
        shown('<p class="vt-error" data-load-failed="' + esc(step.date) + '"><b>' + esc(step.label) + '</b><br>' +
          esc(said) + '</p>', []);
      }
      VT.showMessage(said, true);
    });
  };

  VT.Timeline.prototype.play = function () {
    var self = this;
    if (this.index >= this.cfg.steps.length - 1) this.go(0);
    if (this.playBtn) this.playBtn.textContent = this.engine.labels.pause;
    this.timer = setInterval(function () {
      if (!self.engine.isIdle()) return;
      if (self.index >= self.cfg.steps.length - 1) return self.stop();
      self.go(self.index + 1);
    }, this.cfg.intervalMs || 1400);
  };

  VT.Timeline.prototype.stop = function () {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.playBtn) this.playBtn.textContent = this.engine.labels.play;
  };

  // The date box (and a version picker) shows the page's own date: after Back, the browser put the
  // date typed before leaving back in it (a page kept whole in the back-forward cache, or its form
  // restored), beside the figures of the page's own date.
  window.addEventListener('pageshow', function () {
    var boxes = document.querySelectorAll('form.vt-form input[type=date]');
    for (var i = 0; i < boxes.length; i++) boxes[i].value = boxes[i].defaultValue;
    var options = document.querySelectorAll('form.vt-form select option');
    for (var j = 0; j < options.length; j++) options[j].selected = options[j].defaultSelected;
  });
})();
