"""`venue-twin layer create|alter|show`: layer administration, each change one commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml

from cli.pipes import write_whole
from twin.errors import BadInput
from twin.schema import parse_field_flag, parse_pairs, read_schema_file

layer_app = typer.Typer(
    help="Layer administration: create a layer from a schema file, alter it, show its schema. "
    "Each change is one commit in the twin's history (see `venue-twin log` and `diff`).",
    no_args_is_help=True,
)


def _main():  # type: ignore[no-untyped-def]
    from cli import main  # the shared options and error mapping (main imports this module)

    return main


@layer_app.command("create")
def layer_create(
    file: Annotated[Path, typer.Argument(help="The schema: a YAML or JSON file (see the README).")],
    store: Annotated[str | None, typer.Option("--store", "-s", help="The twin: a GeoPackage file or a postgresql:// URL.")] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    author: Annotated[str | None, typer.Option("--author", help="Who makes the commit.")] = None,
) -> None:
    """Create a layer from a schema file (name, titles, geometry_types, fields, code_field, restricted_to, rules)."""
    import completion  # noqa: F401  (registers the rules a schema may name)

    m = _main()
    twin = m._open(store)
    with twin, m._errors(str(file)):
        schema = read_schema_file(file)
        info = twin.create_layer(schema, author=m._author(author), message=message)
    m.out.print(f"committed {info.id[:12]}: {info.message}", highlight=False)


@layer_app.command("alter")
def layer_alter(
    name: Annotated[str, typer.Argument(help="The layer.")],
    add_field: Annotated[
        list[str] | None,
        typer.Option(
            "--add-field",
            help="NAME:TYPE[:required][=DEFAULT]; TYPE is string, integer, number, date, boolean or list. "
            "Existing features take DEFAULT; a required field without one is refused if the layer has features.",
        ),
    ] = None,
    rename_field: Annotated[
        list[str] | None,
        typer.Option("--rename-field", help="OLD=NEW; every feature's property is renamed in the same commit."),
    ] = None,
    drop_field: Annotated[list[str] | None, typer.Option("--drop-field", help="A field to remove.")] = None,
    allowed: Annotated[
        list[str] | None,
        typer.Option("--allowed", help="FIELD=a,b,c sets the allowed values; FIELD= allows any value."),
    ] = None,
    required: Annotated[list[str] | None, typer.Option("--required", help="Make a field required.")] = None,
    optional: Annotated[list[str] | None, typer.Option("--optional", help="Make a field optional.")] = None,
    unit: Annotated[list[str] | None, typer.Option("--unit", help="FIELD=UNIT (FIELD= clears it).")] = None,
    field_title_en: Annotated[list[str] | None, typer.Option("--field-title-en", help="FIELD=TITLE")] = None,
    field_title_zh: Annotated[list[str] | None, typer.Option("--field-title-zh", help="FIELD=标题")] = None,
    title_en: Annotated[str | None, typer.Option("--title-en", help="The layer's English title.")] = None,
    title_zh: Annotated[str | None, typer.Option("--title-zh", help="The layer's Chinese title.")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    geometry_types: Annotated[
        str | None, typer.Option("--geometry-types", help="Comma separated, e.g. Point,MultiPoint.")
    ] = None,
    code_field: Annotated[str | None, typer.Option("--code-field", help="The field that names a feature.")] = None,
    restrict: Annotated[
        str | None,
        typer.Option("--restrict", help="Roles that may see the layer, e.g. engineer,editor (admins always)."),
    ] = None,
    open_: Annotated[bool, typer.Option("--open", help="Let everyone see the layer.")] = False,
    changes_file: Annotated[
        Path | None, typer.Option("--file", help="An alteration document (YAML or JSON), as PATCH …/schema takes.")
    ] = None,
    store: Annotated[str | None, typer.Option("--store", "-s", help="The twin: a GeoPackage file or a postgresql:// URL.")] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    author: Annotated[str | None, typer.Option("--author", help="Who makes the commit.")] = None,
) -> None:
    """Change a layer's schema as one commit; refused (exit 2, naming them) if existing features would break it."""
    import completion  # noqa: F401

    m = _main()
    twin = m._open(store)
    with twin, m._errors(f"layer {name}"):
        changes: dict[str, Any] = {}
        if changes_file is not None:
            from twin.schema import parse_document

            try:
                doc = parse_document(changes_file.read_bytes(), str(changes_file))
            except OSError as e:
                raise BadInput(f"cannot read {changes_file}: {e.strerror}") from None
            if not isinstance(doc, dict):
                raise BadInput(f"{changes_file}: an alteration must be a mapping")
            changes.update(doc)
        if add_field:
            changes["add_fields"] = [parse_field_flag(t) for t in add_field]
        if rename_field:
            changes["rename_fields"] = parse_pairs(rename_field, "--rename-field")
        if drop_field:
            changes["drop_fields"] = list(drop_field)
        per_field: dict[str, dict[str, Any]] = {}
        for flag, texts, key in (
            ("--allowed", allowed, "allowed"),
            ("--unit", unit, "unit"),
            ("--field-title-en", field_title_en, "title_en"),
            ("--field-title-zh", field_title_zh, "title_zh"),
        ):
            for t in texts or []:
                field, eq, value = t.partition("=")
                if not eq or not field.strip():
                    raise BadInput(f"{flag} {t!r}: give FIELD=VALUE")
                v: Any = value.strip() or None
                if key == "allowed" and v is not None:
                    v = [x.strip() for x in value.split(",") if x.strip()]
                per_field.setdefault(field.strip(), {})[key] = v
        for names, is_required in ((required, True), (optional, False)):
            for f in names or []:
                per_field.setdefault(f, {})["required"] = is_required
        if per_field:
            changes["fields"] = per_field
        for key, text in (("title_en", title_en), ("title_zh", title_zh), ("description", description)):
            if text is not None:
                changes[key] = text
        if geometry_types is not None:
            changes["geometry_types"] = [g.strip() for g in geometry_types.split(",") if g.strip()]
        if code_field is not None:
            changes["code_field"] = code_field or None
        if restrict is not None and open_:
            raise BadInput("give --restrict or --open, not both")
        if restrict is not None:
            roles = [r.strip() for r in restrict.split(",") if r.strip()]
            if not roles:
                raise BadInput("--restrict takes roles, e.g. engineer,editor (use --open to open the layer)")
            changes["restricted_to"] = roles
        if open_:
            changes["restricted_to"] = []
        if not changes:
            raise BadInput(
                "nothing to change: give --add-field, --rename-field, --allowed, --restrict, ... (see --help)"
            )
        info = twin.alter_layer(name, changes, author=m._author(author), message=message)
    c = info.counts.get(name, {})
    rewritten = f" ({c.get('modified', 0)} features rewritten)" if c.get("modified") else ""
    m.out.print(f"committed {info.id[:12]}: {info.message}{rewritten}", highlight=False)


@layer_app.command("show")
def layer_show(
    name: Annotated[str, typer.Argument(help="The layer.")],
    version: Annotated[
        str | None,
        typer.Option("--version", "-v", help="A commit id, HEAD~n, a checkpoint or a time: the schema then."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
    store: Annotated[str | None, typer.Option("--store", "-s", help="The twin: a GeoPackage file or a postgresql:// URL.")] = None,
) -> None:
    """A layer's schema, now or as of a version (YAML, the form `layer create` reads)."""
    m = _main()
    twin = m._open(store)
    with twin, m._errors():
        ref = m._ref_then(twin, version, "--version") if version is not None else None
        data = orjson.loads(orjson.dumps(twin.layer(name, ref).to_dict()))
    if as_json:
        write_whole(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:  # unset keys left out, so the output reads like the file `layer create` takes
        data["fields"] = [{k: v for k, v in f.items() if v is not None} for f in data["fields"]]
        for f in data["fields"]:  # value labels as a schema file writes them: value: {zh: ..., en: ...}
            if "labels" in f:
                f["labels"] = {v: {"zh": zh, "en": en} for v, zh, en in f["labels"]}
        data = {k: v for k, v in data.items() if v is not None}
        write_whole(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
