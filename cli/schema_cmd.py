"""`plays schema [--out DIR] [--workspace]`: writes the JSON Schemas of the files a user writes
(Play, integration, Play test, event), for editors and other tools.

The schemas are the ones `plays validate` uses (package ``plays_schemas``). With ``--workspace`` the
Play schema also knows the workspace's CRM metadata snapshots (``schema_file`` of ``integration.yaml``):
the field names of each Salesforce object and HubSpot's contact properties become the allowed keys
of ``fields:`` / ``properties:`` / ``default_values:`` / ``overwrite:`` (so they complete and a typo
is underlined), and a picklist field's values become an ``enum`` (a template string stays allowed).
Only fields a Play can write are offered: supported types (D-FT-1), updateable or createable.
The integration schema is narrowed the same way (owned fields, tracking targets, default values,
mapping dates). The engine's own checks remain the judge; the editor schema is a convenience that never rejects
more than `plays validate` does, except an unknown or unwritable field name, which it also rejects.

Exit codes: 0 written; 2 a setup problem (a missing folder, no snapshots for ``--workspace``).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import typer

from engine.language.metadata import FieldInfo, ObjectSchema
from engine.language.schema_check import SchemasMissing, schemas_dir

SCHEMA_NAMES = ("play.schema.json", "integration.schema.json", "playtest.schema.json", "event.schema.json")
TEMPLATE = {"description": "A template such as `{{ reply.classification }}`.", "type": "string",
            "pattern": "\\{\\{"}
SF_OBJECTS = ("Lead", "Contact")
WORKSPACE_ID = "https://plays.dev/schemas/workspace/play.schema.json"


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


def packaged_schemas() -> dict[str, dict]:
    """The packaged JSON Schemas by file name; a broken installation raises `SchemasMissing`."""
    folder = schemas_dir()
    out = {}
    for name in SCHEMA_NAMES:
        path = folder / name
        if not path.is_file():
            raise SchemasMissing(f"the JSON Schemas of plays are not installed ({name} missing in {folder})")
        out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


# ---------------------------------------------------------------------------------- workspace schema

def _writable(f: FieldInfo) -> bool:
    return f.supported and (f.updateable or f.createable)


def _field_schema(f: FieldInfo, values: Iterable[str] | None = None) -> dict:
    what = f"{f.label} ({f.crm_type})" if f.label else f.crm_type
    if f.kind == "picklist":
        allowed = list(values if values is not None else f.picklist_values)
        return {"description": f"{what}; picklist values: {', '.join(allowed)}.",
                "anyOf": [{"enum": allowed}, {"$ref": "#/$defs/template"}, {"type": "null"}]}
    return {"description": what, "$ref": "#/$defs/fieldValue"}


def _fields_def(fields: Mapping[str, dict], crm: str) -> dict:
    return {"description": f"Fields of this {crm} object in the workspace's CRM snapshot.",
            "type": "object", "properties": dict(sorted(fields.items())), "additionalProperties": False}


def _object_defs(obj: ObjectSchema, crm: str) -> tuple[dict, dict]:
    """(fields mapping schema, overwrite list schema) for one object."""
    fields = {n: _field_schema(f) for n, f in obj.fields.items() if _writable(f)}
    names = sorted(fields)
    return _fields_def(fields, crm), {"type": "array", "uniqueItems": True,
                                      "items": {"enum": names, "description": f"A {crm} field name."}}


def _auto_defs(lead: ObjectSchema, contact: ObjectSchema) -> tuple[dict, dict]:
    """`object: auto`: a field must exist (and be writable) on both Lead and Contact; a picklist
    value must be valid on both."""
    fields = {}
    for name, f in lead.fields.items():
        g = contact.fields.get(name)
        if g is None or not (_writable(f) and _writable(g)):
            continue
        both = [v for v in f.picklist_values if v in set(g.picklist_values)]
        fields[name] = _field_schema(f, both if f.kind == "picklist" and g.kind == "picklist" else None)
    names = sorted(fields)
    return _fields_def(fields, "Salesforce (auto: Lead and Contact)"), {
        "type": "array", "uniqueItems": True, "items": {"enum": names}}


def _when_object(value: str | None, then: dict) -> dict:
    cond = {"properties": {"object": {"const": value}}, "required": ["object"]} if value else \
        {"not": {"required": ["object"]}}
    return {"if": cond, "then": then}


def workspace_play_schema(play: dict, crm_objects: Mapping[str, Mapping[str, ObjectSchema]]) -> dict:
    """The Play schema narrowed to the fields of these CRM snapshots (see the module docstring)."""
    schema = copy.deepcopy(play)
    schema["$id"] = WORKSPACE_ID
    schema["title"] = "Play (with this workspace's CRM fields)"
    defs = schema["$defs"]
    defs["template"] = TEMPLATE
    sf = crm_objects.get("salesforce") or {}
    present = [o for o in SF_OBJECTS if o in sf]
    if present:
        node = defs["node_sync_to_salesforce"]
        branches = []
        for name in present:
            fields, overwrite = _object_defs(sf[name], "Salesforce")
            defs[f"sf_fields_{name}"], defs[f"sf_overwrite_{name}"] = fields, overwrite
        if len(present) == 2:
            defs["sf_fields_auto"], defs["sf_overwrite_auto"] = _auto_defs(sf["Lead"], sf["Contact"])
        else:  # only one object in the snapshot: `auto` can only find that one
            defs["sf_fields_auto"], defs["sf_overwrite_auto"] = defs[f"sf_fields_{present[0]}"], \
                defs[f"sf_overwrite_{present[0]}"]
        for name in [*present, "auto", None]:  # None: `object` left out, which means auto
            key = name or "auto"
            branches.append(_when_object(name, {"properties": {
                "fields": {"$ref": f"#/$defs/sf_fields_{key}"},
                "default_values": {"$ref": f"#/$defs/sf_fields_{key}"},
                "overwrite": {"$ref": f"#/$defs/sf_overwrite_{key}"}}}))
        node["allOf"] = node.get("allOf", []) + branches
    hs = (crm_objects.get("hubspot") or {}).get("contacts")
    if hs is not None:
        fields, overwrite = _object_defs(hs, "HubSpot")
        defs["hs_properties"], defs["hs_overwrite"] = fields, overwrite
        node = defs["node_sync_to_hubspot"]
        for key, ref in (("properties", "hs_properties"), ("default_values", "hs_properties"),
                         ("overwrite", "hs_overwrite")):
            node["properties"][key] = {**{k: v for k, v in node["properties"][key].items()
                                          if k == "description"}, "$ref": f"#/$defs/{ref}"}
    return schema


def _names(objects: Iterable[ObjectSchema]) -> list[str]:
    return sorted({n for obj in objects for n, f in obj.fields.items() if _writable(f)})


def _name_keys(names: list[str], value: dict, description: str) -> dict:
    """A mapping whose keys are these field names (they complete; others are underlined)."""
    return {"description": description, "type": "object", "additionalProperties": False,
            "properties": {n: value for n in names}}


def workspace_integration_schema(integration: dict, crm_objects: Mapping[str, Mapping[str, ObjectSchema]]) -> dict:
    """The integration schema narrowed the same way: owned fields, tracking targets, default values and
    mapping dates name fields of the snapshot (Salesforce: Lead or Contact)."""
    schema = copy.deepcopy(integration)
    schema["$id"] = WORKSPACE_ID.replace("play.schema", "integration.schema")
    defs = schema["$defs"]
    for crm, name_def, objects in (
            ("salesforce", "sfFieldName", [o for n, o in (crm_objects.get("salesforce") or {}).items() if n in SF_OBJECTS]),
            ("hubspot", "hsPropertyName", [o for n, o in (crm_objects.get("hubspot") or {}).items() if n == "contacts"])):
        if not objects:
            continue
        names = _names(objects)
        defs[name_def] = {"description": defs[name_def].get("description", ""), "enum": names}
        props = defs[crm]["properties"]
        for key, value in (("default_values", {"$ref": "#/$defs/literal"}),
                           ("field_mappings_since", {"$ref": "#/$defs/datetime"})):
            if key in props:
                props[key] = _name_keys(names, value, props[key].get("description", ""))
    return schema


def _crm_objects(plays: str) -> dict:
    from engine.workspace import PathNotFound, load_workspace

    try:
        ws = load_workspace([plays])
    except PathNotFound as exc:
        _fail(f"--plays: {exc}")
    objects = {crm: objs for crm, objs in ws.crm_objects.items() if objs}
    if not objects:
        _fail(f"no CRM field snapshots found for {plays} (integration.yaml names them with schema_file; "
              "`plays crm pull-schema` writes them)")
    return objects


# ---------------------------------------------------------------------------------- command

def write_schemas(out: Path, workspace_objects: Optional[dict] = None) -> list[Path]:
    """Write the schemas into `out` (created); the Play schema narrowed when objects are given."""
    schemas = packaged_schemas()
    if workspace_objects is not None:
        schemas["play.schema.json"] = workspace_play_schema(schemas["play.schema.json"], workspace_objects)
        schemas["integration.schema.json"] = workspace_integration_schema(schemas["integration.schema.json"],
                                                                          workspace_objects)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas.items():
        path = out / name
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def schema_cmd(
    out: Path = typer.Option(Path("schemas"), "--out", "-o", help="Folder to write the schemas into "
                             "(created if missing; existing schema files are replaced)."),
    workspace: bool = typer.Option(False, "--workspace", help="Also put the CRM snapshots' field names "
                                   "and picklist values into the Play schema (fields complete in an editor, "
                                   "typos are underlined)."),
    plays: str = typer.Option("plays", "--plays", help="With --workspace: the folder with integration.yaml "
                              "whose schema_file snapshots are read."),
) -> None:
    """Write the JSON Schemas (Play, integration, Play test, event) for editors; see docs/editor.md."""
    objects = _crm_objects(plays) if workspace else None
    try:
        written = write_schemas(out, objects)
    except SchemasMissing as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write into {out}: {exc.strerror or exc}")
    for path in written:
        sys.stdout.write(f"wrote {path}\n")
    if objects:
        counted = ", ".join(f"{crm} {'/'.join(sorted(objs))}" for crm, objs in sorted(objects.items()))
        sys.stdout.write(f"Play schema knows the fields of {counted}.\n")


def register(app: typer.Typer) -> None:
    app.command("schema")(schema_cmd)
