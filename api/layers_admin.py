"""Layer administration over HTTP, for the admin role: create a layer, alter its schema, read it.

- `POST /collections`: the body is a schema (JSON, or YAML with Content-Type application/yaml),
  as `venue-twin layer create` reads it; 201 with the new collection's Location.
- `PATCH /collections/{id}/schema`: an alteration document (twin.schema.plan_alteration:
  add_fields, rename_fields, drop_fields, fields, restricted_to, titles, ...); 200 with the new schema.
- `GET /collections/{id}/schema`: the schema, now or as of `version`/`asof`, for whoever may see the layer.

Each change is one commit whose author is the token's name (`X-Twin-Message` sets its message).
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

import orjson
from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import with_token
from api.caching import cache_headers
from api.deps import (
    AdminDep,
    CollectionId,
    DatetimeParam,
    StrictQueryRoute,
    TwinDep,
    VersionDep,
    add_get_route,
    collection_of,
    message_header,
    public_url,
)
from api.errors import UnsupportedMediaType
from twin.errors import BadInput
from twin.model import CommitInfo, FieldType, LayerSchema
from twin.schema import parse_document

JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def _schema_json(
    schema: LayerSchema, status: int = 200, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {**extra, "schema": schema.to_dict()} if extra else schema.to_dict()
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


async def _document(request: Request) -> Any:
    """The body as plain data: JSON, or YAML (which the schema files of `venue-twin layer` are)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in (JSON, "application/merge-patch+json", *YAML_TYPES):
        raise UnsupportedMediaType(f"send application/json or application/yaml (got {ctype or 'no content type'})")
    body = await request.body()
    if ctype in YAML_TYPES:
        doc = parse_document(body, "the body")
    else:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise BadInput(f"the body is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadInput("the body must be an object (a mapping)")
    return doc


# The bodies as the API definition (/api) declares them: the keys twin.schema reads (a schema
# file of `venue-twin layer create`, or an alteration), as JSON or YAML.
_FIELD_DOC: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": list(get_args(FieldType))},
        "required": {"type": "boolean"},
        "allowed": {"type": "array", "items": {}},
        "unit": {"type": "string"},
        "title_zh": {"type": "string"},
        "title_en": {"type": "string"},
        "labels": {"type": "object"},
    },
}
_LAYER_DOC: dict[str, Any] = {
    "type": "object",
    "title": "A layer's schema (as `venue-twin layer create` reads it)",
    "required": ["name", "title_zh", "title_en", "geometry_types"],
    "properties": {
        "name": {"type": "string"},
        "title_zh": {"type": "string"},
        "title_en": {"type": "string"},
        "geometry_types": {"type": "array", "items": {"type": "string"}},
        "fields": {"type": "array", "items": _FIELD_DOC},
        "code_field": {"type": "string"},
        "description": {"type": "string"},
        "positions_approximate": {"type": "boolean"},
        "restricted_to": {"type": "array", "items": {"type": "string"}},
        "storage_crs": {"type": "string"},
        "rules": {"type": "array", "items": {}},
    },
}
_ALTERATION_DOC: dict[str, Any] = {
    "type": "object",
    "title": "An alteration of a layer's schema (twin.schema.plan_alteration)",
    "minProperties": 1,
    "properties": {
        "add_fields": {"type": "array", "items": _FIELD_DOC},
        "rename_fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "drop_fields": {"type": "array", "items": {"type": "string"}},
        "fields": {"type": "object", "description": "Field name: the keys of it to change (null clears one)"},
        "title_zh": {"type": "string"},
        "title_en": {"type": "string"},
        "description": {"type": "string"},
        "geometry_types": {"type": "array", "items": {"type": "string"}},
        "code_field": {"type": "string"},
        "positions_approximate": {"type": "boolean"},
        "restricted_to": {"type": "array", "items": {"type": "string"}},
        "rules": {"type": "array", "items": {}},
    },
}


def _body_doc(schema: dict[str, Any], *types: str, description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {t: {"schema": schema} for t in types}}


CREATE_BODY = _body_doc(
    _LAYER_DOC, JSON, "application/yaml", description="The layer's schema, as JSON or YAML (a schema file)"
)
ALTER_BODY = _body_doc(
    _ALTERATION_DOC, "application/merge-patch+json", JSON, "application/yaml",
    description="What to change, as JSON or YAML",
)  # fmt: skip


class LayersAdminFactory:
    """The layer administration endpoints; mounted by api.main.create_app."""

    def __init__(self) -> None:
        self.router = APIRouter(route_class=StrictQueryRoute)
        self.register()

    def register(self) -> None:
        r = self.router
        r.add_api_route(
            "/collections",
            self.create,
            methods=["POST"],
            summary="Create a layer from a schema (a commit; admin)",
            tags=["Administration"],
            status_code=201,
            openapi_extra=with_token(CREATE_BODY),
        )
        path = "/collections/{collectionId}/schema"
        add_get_route(r, path, self.schema, summary="A layer's schema, now or as of a version", tags=["Capabilities"])
        r.add_api_route(
            path,
            self.alter,
            methods=["PATCH"],
            summary="Alter a layer's schema (a commit; admin)",
            tags=["Administration"],
            openapi_extra=with_token(ALTER_BODY),
        )

    async def create(
        self,
        request: Request,
        twin: TwinDep,
        who: AdminDep,
        message: Annotated[str | None, Header(alias="X-Twin-Message")] = None,
    ) -> Response:
        doc = await _document(request)

        def create() -> tuple[CommitInfo, LayerSchema]:  # store work, off the event loop
            made = twin.create_layer(doc, author=who.name, message=message_header(message))
            return made, twin.layer(doc["name"], twin.resolve(made.id))

        info, schema = await run_in_threadpool(create)
        headers = {"Location": public_url(request, f"/collections/{schema.name}"), "X-Twin-Commit": info.id}
        return _schema_json(schema, 201, headers, commit=info.id, collection=schema.name)

    async def alter(
        self,
        request: Request,
        twin: TwinDep,
        who: AdminDep,
        collection_id: CollectionId,
        message: Annotated[str | None, Header(alias="X-Twin-Message")] = None,
    ) -> Response:
        doc = await _document(request)

        def alter() -> tuple[CommitInfo, LayerSchema]:  # store work, off the event loop
            schema = collection_of(twin, collection_id)
            made = twin.alter_layer(schema.name, doc, author=who.name, message=message_header(message))
            return made, twin.layer(schema.name, twin.resolve(made.id))

        info, new = await run_in_threadpool(alter)
        return _schema_json(new, headers={"X-Twin-Commit": info.id}, commit=info.id, message=info.message)

    def schema(
        self,
        twin: TwinDep,
        version: VersionDep,
        collection_id: CollectionId,
        datetime_: DatetimeParam = None,
    ) -> Response:
        current = collection_of(twin, collection_id)
        ref = version.resolve(twin, datetime_)
        return _schema_json(twin.layer(current.name, ref), headers=cache_headers(version.version, ref))
