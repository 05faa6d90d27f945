/* The OGC API's HTML pages (api/html.py): the map of a page's features, and the version picker.
 *
 * The features come as GeoJSON in <script type="application/json" id="ogc-features">, the venue's
 * outline in #ogc-context; Leaflet is the app's own copy (/static/vendor/leaflet). When the map has
 * drawn, #ogc-map gets data-drawn="<number of features>" (the browser tests wait for it).
 */
(function () {
  'use strict';

  var FEATURE = { color: '#b91c1c', weight: 2, fillColor: '#ef4444', fillOpacity: 0.25 };
  var HIGHLIGHT = { color: '#1d4ed8', weight: 4, fillColor: '#3b82f6', fillOpacity: 0.45 };
  var CONTEXT = { color: '#6b7280', weight: 1, dashArray: '4 3', fill: false, interactive: false };

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function text(tag, value) {
    var el = document.createElement(tag);
    el.textContent = value;
    return el;
  }

  function drawMap(el) {
    var data = readJson('ogc-features') || { features: [] };
    var context = readJson('ogc-context') || { features: [] };
    var map = L.map(el, { zoomSnap: 0.25, scrollWheelZoom: false });
    // The venue's own attribution, not Leaflet's default prefix.
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(el.getAttribute('data-attribution') || '');
    L.control.scale({ imperial: false }).addTo(map);
    var outline = L.geoJSON(context, { style: function () { return CONTEXT; } }).addTo(map);
    var byId = {};
    var drawn = 0;
    var layer = L.geoJSON(data, {
      style: function () { return FEATURE; },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { radius: 6, color: FEATURE.color, weight: 2, fillOpacity: 0.6 });
      },
      onEachFeature: function (f, lyr) {
        var id = String(f.id);
        byId[id] = (byId[id] || []).concat([lyr]);
        var row = document.querySelector('tr[data-id="' + CSS.escape(id) + '"] a');
        var box = document.createElement('div');
        if (row) {
          var link = text('a', id);
          link.href = row.href;
          box.appendChild(link);
        } else {
          box.appendChild(text('b', id));
        }
        // Leaflet takes a string as HTML: an id (any text an editor wrote) goes in as an element's text.
        lyr.bindPopup(box);
        lyr.bindTooltip(text('span', id), { sticky: true });
        lyr.on('add', function () {
          var path = lyr.getElement && lyr.getElement();
          if (path) { path.setAttribute('data-feature-id', id); }
        });
        drawn += 1;
      }
    }).addTo(map);
    var bounds = layer.getBounds();
    if (!bounds.isValid()) { bounds = outline.getBounds(); }
    if (bounds.isValid()) {
      // One feature is shown with room around it, so the outline beside it says where it is.
      var pad = drawn === 1 ? 60 : 16;
      map.fitBounds(bounds, { padding: [pad, pad], maxZoom: 18 });
    } else {
      map.setView([31.191, 121.297], 15);
    }
    // Rows of the table light their features up on the map.
    Array.prototype.forEach.call(document.querySelectorAll('tr[data-id]'), function (tr) {
      var layers = byId[tr.getAttribute('data-id')] || [];
      tr.addEventListener('mouseenter', function () {
        layers.forEach(function (l) { if (l.setStyle) { l.setStyle(HIGHLIGHT); l.bringToFront(); } });
      });
      tr.addEventListener('mouseleave', function () {
        layers.forEach(function (l) { if (l.setStyle) { l.setStyle(FEATURE); } });
      });
    });
    el.setAttribute('data-drawn', String(drawn));
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll('select[data-autosubmit]'), function (s) {
      s.addEventListener('change', function () { s.form.submit(); });
    });
    var el = document.getElementById('ogc-map');
    if (el && window.L) { drawMap(el); }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
