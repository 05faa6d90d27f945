"""Maps and pages built from the twin's own queries (folium; Leaflet from npm, served locally).

`web.maps` builds the interactive maps (completion, timeline, changes, layer check) as HTML,
either for the app to serve (data loaded from the app as the view changes) or as one
self-contained file to hand around; `web.landing` is the product's home page. HTTP routing
lives in api/maps.py, the command line in cli/maps.py.
"""
