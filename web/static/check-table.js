/*
 * check-table.js: the layer-check and change pages' own parts, beside the map engine (venue-map.js).
 *
 * - VT.AttributeTable: a layer's attribute table (web/templates/check_table.html). The text box
 *   keeps the rows holding every word typed, "problems only" the features with findings; a header
 *   click sorts by that column (again: the other way, empty cells always last); a row click (or
 *   Enter or Space on a row reached by Tab) zooms the map to its feature and outlines it. A click
 *   in the problems list or on the map picks the feature's row.
 * - VT.stackedPopup: a click where features lie over one another lists them all in one popup, the
 *   top-most first, with previous / next; the chosen one's own popup shows under the list.
 * - VT.CodeLabels: the checked layer's codes written on its features, placed with the map's other
 *   labels (venue-map.js VT.LabelPlacer): the features with problems at every zoom (a stray far
 *   from the venue is found by its code), the others from a zoom on; problems first, then the
 *   layer's other codes, then road names and the rest; no label covering another.
 * - VT.checkMap.attach / VT.changeMap.attach: wire those to a page's engine (web/maps.py).
 * - The change list's checkbox that hides the project register's changes.
 *
 * The register's table page has no map (and no Leaflet): only the table and the lists run there.
 */
(function () {
  'use strict';

  var VT = (window.VT = window.VT || {});

  function esc(v) {
    return String(v === null || v === undefined ? '' : v)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;');
  }

  function fmt(template, values) {
    return String(template || '').replace(/\{(\w+)\}/g, function (m, k) {
      return values && values[k] !== undefined ? values[k] : m;
    });
  }

  function each(list, fn) {
    Array.prototype.forEach.call(list, fn);
  }

  function bboxOf(el) {
    return (el.getAttribute('data-bbox') || el.getAttribute('data-zoom') || '').split(',').filter(Boolean).map(Number);
  }

  // ------------------------------------------------------------------ the attribute table
  VT.tables = {};

  VT.AttributeTable = function (root) {
    var self = this;
    this.root = root;
    this.layer = root.getAttribute('data-layer');
    this.tbody = root.querySelector('tbody');
    this.rows = Array.prototype.slice.call(this.tbody.rows);
    this.rows.forEach(function (r, i) {
      // what the text box matches: the row's text, and the codes of values shown by their labels
      var codes = Array.prototype.map.call(r.querySelectorAll('[data-code]'), function (c) {
        return c.getAttribute('data-code');
      });
      r._vtText = (r.textContent + ' ' + codes.join(' ')).toLowerCase();
      r._vtIndex = i;
    });
    this.filterBox = root.querySelector('.vt-attr-filter');
    this.onlyBox = root.querySelector('.vt-attr-problems');
    this.countEl = root.querySelector('.vt-attr-count');
    this.collator = new Intl.Collator(document.documentElement.lang || undefined, { numeric: true, sensitivity: 'base' });
    this.sortCol = null;
    this.sortDir = 0;
    if (this.filterBox) this.filterBox.addEventListener('input', function () { self.apply(); });
    if (this.onlyBox) this.onlyBox.addEventListener('change', function () { self.apply(); });
    root.querySelector('thead').addEventListener('click', function (ev) {
      var th = ev.target.closest('th');
      if (th) self.sortBy(parseInt(th.getAttribute('data-col'), 10));
    });
    this.tbody.addEventListener('click', function (ev) {
      var tr = ev.target.closest('tr');
      if (tr) self.rowClicked(tr);
    });
    // on a map page a row with a feature to show is reached by Tab and shown by Enter or Space too
    // (venue-map.js, as the completion map's late list; the register's table page has no map)
    if (VT.keyActivated) {
      this.rows.forEach(function (r) {
        if (r.hasAttribute('data-bbox')) VT.keyActivated(r);
      });
    }
    VT.tables[this.layer] = this;
    this.apply();
  };

  VT.AttributeTable.prototype.apply = function () {
    var words = (this.filterBox ? this.filterBox.value : '').toLowerCase().split(/\s+/).filter(Boolean);
    var only = !!(this.onlyBox && this.onlyBox.checked);
    var shown = 0;
    this.rows.forEach(function (r) {
      var keep = (!only || r.getAttribute('data-check') !== 'ok') &&
        words.every(function (w) { return r._vtText.indexOf(w) >= 0; });
      r.hidden = !keep;
      if (keep) shown++;
    });
    this.shown = shown;
    if (this.countEl) {
      this.countEl.setAttribute('data-shown', String(shown));
      this.countEl.textContent = fmt(this.countEl.getAttribute('data-template'), { shown: shown, total: this.rows.length });
    }
  };

  // Sort by column `col`: ascending, or descending when it was already ascending. Empty cells go
  // last either way; rows that compare equal keep their order.
  VT.AttributeTable.prototype.sortBy = function (col) {
    var th = this.root.querySelector('thead th[data-col="' + col + '"]');
    if (!th) return;
    var dir = this.sortCol === col && this.sortDir === 1 ? -1 : 1;
    var numeric = th.getAttribute('data-type') === 'number';
    var collator = this.collator;
    var keyed = this.rows.map(function (r) {
      var cell = r.cells[col];
      var v = null;
      if (cell) {
        if (numeric) {
          var raw = cell.getAttribute('data-sort');
          v = raw === null || raw === '' ? null : parseFloat(raw);
        } else {
          v = cell.textContent.trim() || null;
        }
      }
      return { r: r, v: v };
    });
    keyed.sort(function (a, b) {
      if (a.v === null || b.v === null) {
        if (a.v === b.v) return a.r._vtIndex - b.r._vtIndex;
        return a.v === null ? 1 : -1;
      }
      var c = numeric ? a.v - b.v : collator.compare(a.v, b.v);
      return c !== 0 ? dir * c : a.r._vtIndex - b.r._vtIndex;
    });
    var frag = document.createDocumentFragment();
    this.rows = keyed.map(function (k) {
      frag.appendChild(k.r);
      return k.r;
    });
    this.tbody.appendChild(frag);
    each(this.root.querySelectorAll('thead th'), function (h) {
      h.setAttribute('aria-sort', 'none');
    });
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    this.sortCol = col;
    this.sortDir = dir;
  };

  VT.AttributeTable.prototype.row = function (id) {
    for (var i = 0; i < this.rows.length; i++) if (this.rows[i].getAttribute('data-id') === id) return this.rows[i];
    return null;
  };

  // Mark a feature's row as the chosen one and bring it into view (clearing a filter that hides it).
  VT.AttributeTable.prototype.select = function (id, scroll) {
    var tr = this.row(id);
    each(this.tbody.querySelectorAll('tr.vt-selected'), function (r) {
      r.classList.remove('vt-selected');
    });
    if (!tr) return null;
    if (tr.hidden) {
      if (this.filterBox) this.filterBox.value = '';
      if (this.onlyBox && tr.getAttribute('data-check') === 'ok') this.onlyBox.checked = false;
      this.apply();
    }
    tr.classList.add('vt-selected');
    if (scroll) tr.scrollIntoView({ block: 'nearest' });
    return tr;
  };

  VT.AttributeTable.prototype.rowClicked = function (tr) {
    this.select(tr.getAttribute('data-id'), false);
    var engine = VT.engine;
    var bbox = bboxOf(tr);
    if (engine && bbox.length === 4) engine.zoomTo([tr.getAttribute('data-key')], bbox);
  };

  // ------------------------------------------------------------------ popups over stacked features
  function featureLabel(engine, f) {
    var p = f.p || {};
    var name = engine.lang === 'en' ? p.name_en || p.name_zh : p.name_zh || p.name_en;
    var code = f.l || p.code;
    if (code && name && code !== name) return code + ' ' + name;
    return code || name || f.id;
  }

  VT.stackedPopup = function (engine, latlng, hits, opts) {
    opts = opts || {};
    var labels = opts.labels || {},
      n = hits.length,
      current = -1;
    var root = document.createElement('div');
    root.className = 'vt-stack';
    root.setAttribute('data-count', String(n));
    var items = hits
      .map(function (h, i) {
        var f = h.feature,
          st = engine.styles[f.c] || {};
        var what = engine.labels['check_' + f.c] || engine.labels[f.c] || '';
        return (
          '<li data-index="' + i + '" data-layer="' + esc(h.layer.spec.id) + '" data-feature="' + esc(f.k || f.id) + '">' +
          '<span class="vt-chip" style="background:' + esc(st.fill || st.color || '#999') + '"></span>' +
          '<span class="vt-stack-name">' + esc(featureLabel(engine, f)) + '</span>' +
          '<span class="vt-stack-what">' + esc(what) + (h.layer.spec.popup === 'changes' ? '' : ' · ' + esc(h.layer.spec.title)) +
          '</span></li>'
        );
      })
      .join('');
    root.innerHTML =
      '<div class="vt-stack-head"><span class="vt-stack-n">' + esc(fmt(labels.stack_n, { n: n })) + '</span>' +
      '<button type="button" class="vt-stack-prev" title="' + esc(labels.stack_prev) + '" aria-label="' + esc(labels.stack_prev) + '">◀</button>' +
      '<span class="vt-stack-pos"></span>' +
      '<button type="button" class="vt-stack-next" title="' + esc(labels.stack_next) + '" aria-label="' + esc(labels.stack_next) + '">▶</button></div>' +
      '<ol class="vt-stack-list">' + items + '</ol><div class="vt-stack-body"></div>';
    var body = root.querySelector('.vt-stack-body'),
      pos = root.querySelector('.vt-stack-pos'),
      lis = root.querySelectorAll('.vt-stack-list li');
    var popup = L.popup(VT.popupOptions(engine.map, { maxWidth: 380, minWidth: 260, className: 'vt-popup vt-stack-popup' }))
      .setLatLng(latlng)
      .setContent(root)
      .openOn(engine.map);

    function fill(i, html) {
      if (i !== current) return; // the user moved on meanwhile
      body.innerHTML = html;
      body.classList.remove('vt-loading');
      popup.update();
    }

    function show(i) {
      current = (i + n) % n;
      var h = hits[current],
        at = current;
      pos.textContent = current + 1 + ' / ' + n;
      each(lis, function (li, k) {
        li.classList.toggle('vt-current', k === current);
        if (k === current) li.setAttribute('aria-current', 'true');
        else li.removeAttribute('aria-current');
      });
      var keys = {};
      keys[h.layer.spec.id] = [h.feature.k || h.feature.id];
      engine.highlight(keys);
      body.classList.add('vt-loading');
      if (h.feature.p || !h.layer.spec.itemUrl) {
        fill(at, engine.popupHtml(h.feature, h.layer));
      } else {
        body.innerHTML = '<div class="vt-muted">' + esc(engine.labels.loading || '…') + '</div>';
        engine
          .withAttributes(h.feature, h.layer)
          .then(function () {
            fill(at, engine.popupHtml(h.feature, h.layer));
          })
          .catch(function (err) {
            fill(at, '<div class="vt-error">' + esc(fmt(engine.labels.load_failed || '{error}', { error: err.message })) + '</div>');
          });
      }
      if (opts.onShow) opts.onShow(h);
    }

    root.querySelector('.vt-stack-prev').addEventListener('click', function () { show(current - 1); });
    root.querySelector('.vt-stack-next').addEventListener('click', function () { show(current + 1); });
    each(lis, function (li, k) {
      li.addEventListener('click', function () { show(k); });
    });
    popup.on('remove', function () {
      engine.highlight({});
    });
    show(0);
    return popup;
  };

  // ------------------------------------------------------------------ codes on the features
  // The checked layer's codes are labels of the engine's placer (venue-map.js VT.LabelPlacer), so they
  // keep clear of the other layers' labels, and those of them, of the map's controls and edges: the
  // codes of features with problems at every zoom (a stray far from the venue is found by its code)
  // and before any other label but a highlighted feature's; the others from `minZoom` on, before the
  // road names and the other layers' labels.
  VT.CodeLabels = function (engine, layerId, minZoom) {
    var self = this;
    this.engine = engine;
    this.map = engine.map;
    this.layerId = layerId;
    this.minZoom = minZoom;
    this.shown = []; // the code labels' elements
    this.codes = [];
    engine.labelPlacer.addSource({
      candidates: function (placer) {
        return self.candidates(placer);
      },
      placed: function (labels) {
        self.placed(labels);
      },
    });
    this.update();
  };

  VT.CodeLabels.prototype.update = function () {
    this.engine.placeLabels();
  };

  VT.CodeLabels.prototype.candidates = function (placer) {
    var layer = this.engine.layers[this.layerId];
    if (!layer || !layer.isVisible() || !layer.items || layer.tiled) return [];
    var order = this.engine.styleOrder,
      all = this.map.getZoom() >= this.minZoom,
      chosen = layer._highlighted(),
      v = placer.view(),
      layerId = this.layerId,
      out = [];
    layer.items.forEach(function (it) {
      if (!it.f.l || !it.parts.length) return;
      var problem = !!it.f.c && it.f.c !== 'ok';
      if (!all && !problem) return;
      out.push({
        text: it.f.l,
        kind: 'code',
        className: 'vt-code-label vt-code-' + it.f.c,
        layer: layerId,
        id: it.f.id,
        key: layerId + '/' + it.f.id,
        rank: chosen.indexOf(it) >= 0 ? 0 : problem ? 1 : 1.5,
        severity: order.indexOf(it.f.c),
        spots: placer.spotsOf(it, v, 18),
      });
    });
    return out;
  };

  VT.CodeLabels.prototype.placed = function (labels) {
    this.shown = labels.map(function (l) { return l.el; });
    this.codes = labels.map(function (l) { return l.text; });
    this.map.getContainer().setAttribute('data-code-labels', String(labels.length));
  };

  // ------------------------------------------------------------------ the pages
  VT.checkMap = {
    // the layer check map: codes on the checked layer, stacked popups, the table following the map
    attach: function (engine, opts) {
      this.labels = new VT.CodeLabels(engine, opts.layer, opts.labelMinZoom || 0);
      var pick = function (h) {
        var table = VT.tables[opts.layer]; // made when the page has loaded, after this runs
        if (table && h.layer.spec.id === opts.layer) table.select(h.feature.id, true);
      };
      engine.stackHandler = function (latlng, hits) {
        return VT.stackedPopup(engine, latlng, hits, { labels: opts.labels, onShow: pick });
      };
      engine.map.on('click', function (e) {
        var top = engine.hitsAt(e.latlng)[0];
        if (top) pick(top);
      });
      return this;
    },
  };

  VT.changeMap = {
    attach: function (engine, opts) {
      engine.stackHandler = function (latlng, hits) {
        return VT.stackedPopup(engine, latlng, hits, { labels: opts.labels });
      };
      return this;
    },
  };

  function wireLists(doc) {
    each(doc.querySelectorAll('[data-attr-table]'), function (root) {
      if (!root._vtTable) root._vtTable = new VT.AttributeTable(root);
    });
    // a problem picks its feature's row (on a map page the engine also zooms to it)
    var tableRoot = doc.querySelector('[data-attr-table]');
    var table = tableRoot ? VT.tables[tableRoot.getAttribute('data-layer')] : null;
    each(doc.querySelectorAll('.vt-problems li[data-feature]'), function (li) {
      li.addEventListener('click', function () {
        if (table) table.select(li.getAttribute('data-feature'), true);
      });
    });
    each(doc.querySelectorAll('[data-hide-register]'), function (box) {
      var list = box.closest('[data-changes]');
      var sync = function () {
        list.classList.toggle('vt-register-hidden', box.checked);
        each(list.querySelectorAll('.vt-section-count'), function (c) {
          c.textContent = '(' + c.getAttribute(box.checked ? 'data-without-register' : 'data-all') + ')';
        });
      };
      box.addEventListener('change', sync);
      sync(); // a reload may keep the box ticked
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { wireLists(document); });
  } else {
    wireLists(document);
  }
})();
