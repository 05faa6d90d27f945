"""Time travel endpoints: the log, one version, diffs, a feature's history, and downloads."""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api.caching import cache_headers, read_headers
from api.deps import (
    CollectionId,
    DatetimeParam,
    JsonFormParam,
    StrictQueryRoute,
    TwinDep,
    VersionDep,
    add_get_route,
    before_history,
    before_the_first,
    check_form,
    collection_of,
    public_url,
    resolve_version,
)
from api.errors import InvalidParameter
from api.features import output_crs, reproject_features
from completion.snapshot import resolve_ref
from layers.changefile import diff_schema_notes
from layers.crs import CRS84_URI, SUPPORTED_API_CRS, crs_label, diff_in_crs, parse_crs
from layers.io import FORMATS, write_layer_bytes
from twin import CommitInfo, Ref
from twin.access import TwinView
from twin.encoding import diff_feature_bytes, feature_collection
from twin.errors import BadInput, NotFound
from twin.model import diff_counts

JSON = "application/json"
# The most commits one page of /versions holds; a larger limit gets this many.
MAX_VERSIONS = 1000


def _ref(twin: TwinView, text: str, name: str) -> Ref:
    """A commit id, HEAD or HEAD~n, a checkpoint (T-30), else a time or date."""
    try:
        return resolve_ref(twin, text)
    except NotFound as e:
        if text.upper().startswith("HEAD~"):  # past the first commit: before the history, as everywhere
            raise before_the_first(twin, text, name) from None
        raise InvalidParameter.of(e, f"{name}: {e}", parameter=name) from None
    except BadInput as e:
        raise InvalidParameter.of(e, f"{name}: {e}", parameter=name) from None


class VersionsFactory:
    def __init__(self) -> None:
        self.router = APIRouter(route_class=StrictQueryRoute)
        r = self.router
        add_get_route(r, "/versions", self.versions, summary="The commits, newest first", tags=["Versions"])
        add_get_route(
            r,
            "/versions/{versionId}",
            self.version,
            summary="One commit and its changes",
            tags=["Versions"],
        )
        add_get_route(r, "/diff", self.diff, summary="What changed between two versions", tags=["Versions"])
        add_get_route(
            r,
            "/collections/{collectionId}/items/{featureId}/history",
            self.history,
            summary="Every version of one feature",
            tags=["Versions"],
        )
        add_get_route(
            r,
            "/collections/{collectionId}/download",
            self.download,
            summary="The whole layer as a file, now or as of a version",
            tags=["Data"],
        )

    def versions(
        self,
        request: Request,
        twin: TwinDep,
        limit: Annotated[
            int, Query(ge=1, description=f"At most this many (above {MAX_VERSIONS}: {MAX_VERSIONS}).")
        ] = 50,
        offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
        version: Annotated[
            str | None,
            Query(description="The log as of this commit (its next and prev links name the head they read)."),
        ] = None,
        f: JsonFormParam = None,
    ) -> Response:
        check_form(f)
        limit = min(limit, MAX_VERSIONS)  # as the items' limit: more than the maximum gets the maximum
        # The view leaves out commits the caller may not see and redacts the rest (twin.access).
        # The log is read as of one commit, the head unless `version` names another, and the page
        # links name it: a commit landing between two pages would otherwise shift the newest-first
        # list by one, so that the next page repeated an entry (or, going back, skipped one).
        for _ in range(5):
            top = resolve_version(twin, version) if version is not None else twin.resolve()
            total = top.commit.shown_seq if top.commit is not None else 0  # the commits up to `top` this caller sees
            newer = twin.commit_count() - total  # commits after `top`
            commits = twin.log(limit, offset + newer) if offset < total else []
            if not commits or commits[0].shown_seq == total - offset:
                break  # else a commit landed between counting and reading: read again
        items = [_commit_doc(request, c) for c in commits]
        pin = {"version": top.commit.id} if top.commit is not None else {}
        self_q = {"limit": limit, "offset": offset, **({"version": version} if version is not None else {})}
        links = [{"rel": "self", "type": JSON, "href": public_url(request, "/versions", **self_q)}]
        if offset + len(items) < total:
            links.append(
                {
                    "rel": "next",
                    "type": JSON,
                    "href": public_url(request, "/versions", limit=limit, offset=offset + limit, **pin),
                }
            )
        if offset > 0:
            links.append(
                {
                    "rel": "prev",
                    "type": JSON,
                    "href": public_url(request, "/versions", limit=limit, offset=max(0, offset - limit), **pin),
                }
            )
        return Response(
            orjson.dumps({"versions": items, "numberMatched": total, "numberReturned": len(items), "links": links}),
            media_type=JSON,
        )

    def version(
        self,
        request: Request,
        twin: TwinDep,
        version_id: Annotated[str, Path(alias="versionId")],
        f: JsonFormParam = None,
    ) -> Response:
        check_form(f)
        ref = resolve_version(twin, version_id, in_path=True)
        if ref.commit is None:
            raise NotFound("the twin has no commits yet")
        doc = _commit_doc(request, ref.commit)
        doc["changes"] = [{"collection": layer, "op": op, "id": fid} for layer, op, fid in twin.changes(ref)]
        return Response(orjson.dumps(doc), media_type=JSON, headers=cache_headers(version_id, ref))

    def diff(
        self,
        request: Request,
        twin: TwinDep,
        from_: Annotated[str, Query(alias="from", description="Commit id, HEAD~n, a time or a date.")],
        to: Annotated[str, Query(description="Commit id, HEAD, a time or a date.")] = "HEAD",
        collections: Annotated[str | None, Query(description="Only these collections, comma separated.")] = None,
        crs: Annotated[
            str | None,
            Query(
                description="The CRS of the coordinates (CRS84 by default), easting first as in a change file: "
                "the answer names it as twin:crs, so it commits back as one"
            ),
        ] = None,
        f: Annotated[
            str | None, Query(description="geojson (default) or json: the same FeatureCollection, typed as asked")
        ] = None,
    ) -> Response:
        check_form(f, ("geojson", "json"))  # as the items take them
        if crs is not None and crs not in SUPPORTED_API_CRS:
            raise InvalidParameter.not_one_of("crs", crs, SUPPORTED_API_CRS, subject="crs ")
        a = _ref(twin, from_, "from")
        # `to` HEAD~n back to the empty twin is before the history, as on every read of a version
        b = resolve_version(twin, to, "to") if re.fullmatch(r"HEAD~\d+", to.strip()) else _ref(twin, to, "to")
        if not to.strip().upper().startswith("HEAD"):
            # `to` a time before the history is a read of the twin when it had no data: say so, as
            # every as-of read does, not "everything deleted" (or an empty diff). `from` before the
            # history is the empty twin on purpose: the whole twin as added.
            before_history(twin, b, to, "to")
        names = [s.name for s in twin.layers()]
        if collections:
            wanted = [c.strip() for c in collections.split(",") if c.strip()]
            for c in wanted:
                collection_of(twin, c)
            names = wanted
        entries = twin.diff(a, b, names)
        counts = diff_counts(entries)  # features apart from a layer's schema change
        features = [diff_feature_bytes(e.layer, e.kind, e.before, e.after) for e in entries]
        members: dict[str, object] = {
            "twin:from": a.commit.id if a.commit else None,
            "twin:to": b.commit.id if b.commit else None,
            "twin:counts": counts,
            "numberReturned": len(entries),
        }
        headers = {}
        label = None
        if crs is not None and crs != CRS84_URI:
            features = diff_in_crs(features, crs)
            members["twin:crs"] = label = crs_label(parse_crs(crs))
            headers["Content-Crs"] = f"<{crs}>"
        # A layer whose schema the range spans is said, as `venue-twin diff` says it on stderr: committed
        # back, the diff is refused. From the entries the caller's view gave: layers they see only.
        notes = diff_schema_notes(entries, from_, to, label)
        if notes:
            members["twin:notes"] = notes
        body = feature_collection(features, members)
        return Response(body, media_type=JSON if f == "json" else "application/geo+json", headers=headers)

    def history(
        self,
        request: Request,
        twin: TwinDep,
        collection_id: CollectionId,
        feature_id: Annotated[str, Path(alias="featureId")],
        crs: Annotated[str | None, Query(description="The CRS of the versions' coordinates.")] = None,
        f: JsonFormParam = None,
    ) -> Response:
        check_form(f)
        schema = collection_of(twin, collection_id)
        out_crs = output_crs(crs)
        entries = twin.history(schema.name, feature_id)
        # Each version as the feature route shows it in that CRS (its axis order), all in one pass.
        shown = iter(reproject_features([h.geojson for h in entries if h.geojson], out_crs))
        doc = {
            "collection": schema.name,
            "id": feature_id,
            "versions": [
                {
                    "op": h.op,
                    "commit": _commit_doc(request, h.commit),
                    "endedBy": h.ended_by,
                    "feature": orjson.loads(next(shown)) if h.geojson else None,
                }
                for h in entries
            ],
        }
        return Response(orjson.dumps(doc), media_type=JSON, headers={"Content-Crs": f"<{out_crs}>"})

    def download(
        self,
        request: Request,
        twin: TwinDep,
        version: VersionDep,
        collection_id: CollectionId,
        f: Annotated[str, Query(description="geojson, gpkg, shapefile or csv")] = "geojson",
        crs: Annotated[str | None, Query(description="The CRS of the file (CRS84 by default).")] = None,
        datetime_: DatetimeParam = None,
    ) -> Response:
        schema = collection_of(twin, collection_id)
        if f not in FORMATS:
            raise InvalidParameter.not_one_of("f", f, FORMATS)
        if crs is not None and crs not in SUPPORTED_API_CRS:
            raise InvalidParameter.not_one_of("crs", crs, SUPPORTED_API_CRS, subject="crs ")
        ref = version.resolve(twin, datetime_)
        target = crs_label(parse_crs(crs)) if crs else "EPSG:4326"
        spec = FORMATS[f]

        def build() -> bytes:
            return write_layer_bytes(
                twin.export_rows(schema.name, ref),
                schema,
                fmt=f,
                crs=target,
                version=ref.commit.id if ref.commit else None,  # what an import of it was a copy of
            )

        data = build()
        tag = ref.commit.id[:12] if ref.commit else "empty"
        # the CRS in the name unless it is the default: the same layer downloaded in two CRSs kept
        # one file in a browser's downloads, the second overwriting or beside "(1)"
        in_crs = "" if target == "EPSG:4326" else "-" + target.replace(":", "").lower()
        filename = f"{schema.name}-{tag}{in_crs}{spec.extension}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if schema.spatial:
            # The file's CRS, as the items name theirs. Its coordinates are easting (lon) first
            # whatever the CRS's axis order, as GIS files have them (README, Downloads).
            headers["Content-Crs"] = f"<{crs or CRS84_URI}>"
        return Response(
            data,
            media_type=spec.media_type,
            headers={**headers, **read_headers(request, ref, version.version)},
        )


def _commit_doc(request: Request, commit: CommitInfo) -> dict[str, Any]:
    c = commit.to_dict()
    c["links"] = [{"rel": "self", "type": JSON, "href": public_url(request, f"/versions/{c['id']}")}]
    return c
