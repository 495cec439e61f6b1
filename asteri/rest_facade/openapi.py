"""The OpenAPI 3.1 document, generated once from the same bindings that serve the routes.

FastAPI derives paths, parameters and request/response schemas from the bound models; this
module adds what a caller of our API needs and FastAPI cannot know: the two credentials, the
required ``x-organization-id``, each operation's scopes, ``Idempotency-Key`` on POST, the
rate-limit response headers, and every error as an RFC 9457 problem.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from graphql import GraphQLObjectType, get_named_type
from pydantic import BaseModel, Field

from asteri.http.conditional import IF_MATCH_PATTERN, IF_NONE_MATCH_PATTERN
from asteri.http.request_id import CHALLENGE
from asteri.kit.settings import DEFAULT_PUBLIC_URL
from asteri.resolvers.crud import Stability
from asteri.rest_facade.idempotency import KEY_PATTERN
from asteri.rest_facade.routes import Binding
from asteri.rest_facade.types import rest_value
from asteri.schema.events import PAYLOAD_VERSION, SCHEMA_BASE, event_types, payload_schema
from asteri.schema.operations.examples import EXAMPLES, INPUT_EXAMPLES

__all__ = ["ProblemDetails", "event_catalogue", "install_openapi"]


class FieldProblem(BaseModel):
    pointer: str = Field(description="JSON pointer to the invalid value in the request.")
    detail: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, plus a stable `code` and the `request_id`."""

    type: str = Field(
        description="The problem's page, `<portal>/developers/problems/<code>`: its cause, its "
        "fix and every `reason` it can carry."
    )
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str = Field(description="Stable error code, e.g. FORBIDDEN or BAD_USER_INPUT.")
    request_id: str | None = Field(description="Also in the `x-request-id` response header.")
    reason: str | None = Field(
        default=None,
        description="A finer reason, e.g. missing_scope, or auth_failures on a 429; each is "
        "explained on the `type` page.",
    )
    required_scope: str | None = Field(default=None, description="For missing_scope: the scope.")
    errors: list[FieldProblem] | None = Field(default=None, description="For 422: each field.")
    window: str | None = Field(default=None, description="For 429: `minute` or `day`.")
    limit: int | None = Field(default=None, description="For 429: the window's limit.")
    retry_after: int | None = Field(
        default=None, description="For 429: seconds until the window resets (= `Retry-After`)."
    )
    current_version: int | None = Field(
        default=None, description="For 412: the object's version now (its `ETag`, unquoted)."
    )


_ERRORS = {
    "400": "Malformed request: bad JSON, a bad cursor.",
    "401": "Credentials are missing, invalid or expired, or `x-organization-id` is missing.",
    "403": "The credential lacks the required scope (or role) or belongs to another organization.",
    "404": "No such object in this organization and environment.",
    "409": "Conflicts with existing data, or the same Idempotency-Key is still in flight.",
    "413": "The request body is too large.",
    "422": "Invalid input; `errors` names each field.",
    "429": "Rate limited (the key's budget, or `reason: auth_failures` for this address): "
    "retry after `Retry-After` seconds.",
}

_NOT_JSON = "The body is not JSON: send `Content-Type: application/json`."

# The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) on every response to an
# authenticated request; a 401 or 403 never reached the limiter.
_HEADERS = {
    "RateLimit-Policy": {
        "description": 'The key\'s windows, e.g. `"minute";q=60;w=60, "day";q=10000;w=86400`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'The window with the least remaining, e.g. `"minute";r=12;t=23`.',
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "On 429: whole seconds until the refusing window resets.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "X-Request-Id": {
        "description": "The request's id: yours if you sent a sane one, else ours. Quote it.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "ETag": {
        "description": 'The object\'s version, quoted (`"3"`): send it back as `If-Match` to '
        "change the object only if nothing else has, or as `If-None-Match` to read it only if "
        "it has changed. An API key's `last_used_at` is not part of its version.",
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "Location": {
        "description": "The new object's URL.",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "WWW-Authenticate": {
        "description": f"The credentials this API accepts: `{CHALLENGE}`.",
        "schema": {"type": "string"},
    },
    "X-Stability": {
        "description": "`preview` on every answer of an operation in private preview (its "
        "`x-stability`): it may still change without notice; do not build production on it.",
        "schema": {"type": "string", "enum": [Stability.PREVIEW.value]},
    },
}


def _ref(header: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{header}"}


_LIMITED = {name: _ref(name) for name in ("RateLimit-Policy", "RateLimit")}


def _optional_header(name: str, pattern: str, description: str) -> dict[str, Any]:
    """An optional request header whose values ``pattern`` declares (the parser's own)."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": pattern},
        "description": description,
    }


_IF_MATCH = _optional_header(
    "If-Match",
    IF_MATCH_PATTERN,
    "The object's `ETag` from your last read: if the object has changed since, nothing is "
    "written and the answer is 412. One entity tag, or `*`.",
)
_IF_NONE_MATCH = _optional_header(
    "If-None-Match",
    IF_NONE_MATCH_PATTERN,
    "`ETag`s you hold: if the object still has one of them, the answer is 304 with no body.",
)
_PREVIEW_NOTE = (
    "**Private preview**: this operation may still change without notice; its answers carry "
    "`x-stability: preview`."
)
_PRECONDITION_FAILED = "`If-Match` names a version the object no longer has (`current_version`)."
_NOT_MODIFIED = "Not modified: the object still has the `ETag` that `If-None-Match` names."

DESCRIPTION = """
The Asteri public REST API. Every route runs a persisted GraphQL operation (its `operationId`)
through the same authorization layer as `POST /api/public/v1/graphql`.

Send a scoped API key in `x-api-key` (or a session token as `Authorization: Bearer …`) and the
organization in `x-organization-id` on every request. Each operation lists the scope it needs
in `x-required-scopes`, and how far its contract is promised in `x-stability`: `available`,
or `preview` (private preview: it may still change, and each of its answers carries
`x-stability: preview`). The security center's (`/api_keys`) list in `x-required-roles` the
team roles whose session may call them, and refuse every API key. Errors are
`application/problem+json`. No text may contain NUL (U+0000): it is refused with a 422 naming
the field. Objects carry a `version`, sent as their `ETag`: `If-None-Match` on a read gets a
304, `If-Match` on a change a 412 once the object has moved on.
""".strip()


def _document(app: FastAPI, bindings: list[Binding]) -> dict[str, Any]:
    by_id = {b.op.name: b for b in bindings}
    doc = get_openapi(
        title="Asteri Public API",
        version=app.version,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=app.routes,
    )
    # Only the REST facade: the GraphQL endpoint is documented by its SDL.
    doc["paths"] = {
        path: item
        for path, item in doc["paths"].items()
        if all(op.get("operationId") in by_id for op in item.values())
    }
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    problem_schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["ProblemDetails"] = problem_schema
    graphql = bindings[0].schema._schema
    for name, example in EXAMPLES.items():
        if name in schemas:
            schemas[name]["examples"] = [example]
    for name, sample in INPUT_EXAMPLES.items():
        if name in schemas:
            schemas[name]["examples"] = [rest_value(graphql.get_type(name), sample)]
    _event_payloads(doc, schemas)
    components["headers"] = _HEADERS
    components["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    doc["security"] = [{"ApiKey": []}, {"Bearer": []}]
    doc["servers"] = [{"url": "/", "description": "The host that serves this document."}]
    # The developer portal (its terms, its support), under the default base: the committed
    # document is one for every deployment.
    portal = f"{DEFAULT_PUBLIC_URL}/developers"
    doc["info"]["license"] = {"name": "Proprietary", "url": portal}
    doc["info"]["contact"] = {"name": "Asteri API support", "url": portal}
    doc["tags"] = _tags(bindings)
    problem = {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    }
    for path_item in doc["paths"].values():
        for method, operation in path_item.items():
            binding = by_id[operation["operationId"]]
            scopes = operation.get("x-required-scopes", [])
            if scopes:
                operation["description"] = (
                    f"{operation.get('description', '')}\n\nRequires scope "
                    + ", ".join(f"`{s}`" for s in scopes)
                    + "."
                ).strip()
            preview = binding.route.stability is Stability.PREVIEW
            if preview:
                operation["description"] = (
                    f"{_PREVIEW_NOTE}\n\n{operation.get('description', '')}".strip()
                )
            roles = binding.op.roles
            if roles:
                operation["x-required-roles"] = list(roles)
                operation["description"] = (
                    f"{operation.get('description', '')}\n\nRequires the session of an "
                    + " or ".join(f"`{r}`" for r in roles)
                    + " of the organization (`Authorization: Bearer …`); every API key gets "
                    "403 `key_manager_required`."
                ).strip()
            params = operation.setdefault("parameters", [])
            params.append(
                {
                    "name": "x-organization-id",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^org_[0-9A-Za-z]+$"},
                    "description": "The organization this request acts for (`org_…`).",
                }
            )
            if method == "post":
                params.append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        # Empty, blank or `""` is refused (400): at least one other character.
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 255,
                            "pattern": KEY_PATTERN,
                        },
                        "description": "Retry safely: the first response is replayed for 24 h.",
                    }
                )
            if binding.conditional:
                params.append(_IF_MATCH)
            responses = operation.setdefault("responses", {})
            revalidates = binding.route.kind == "retrieve" and _versioned(
                responses.get("200", {}), schemas
            )
            if revalidates:
                params.append(_IF_NONE_MATCH)
            for status, text in _ERRORS.items():
                responses[status] = {"description": text, "content": problem}
            if binding.conditional:
                responses["412"] = {"description": _PRECONDITION_FAILED, "content": problem}
            if revalidates:
                responses["304"] = {"description": _NOT_MODIFIED}
            if "requestBody" in operation:
                responses["415"] = {"description": _NOT_JSON, "content": problem}
            if binding.route.success_status == 204:
                responses["204"] = {"description": "Deleted."}
                responses.pop("200", None)
            for status, response in responses.items():
                headers = response["headers"] = {"X-Request-Id": _ref("X-Request-Id")}
                if status not in ("401", "403"):
                    headers.update(_LIMITED)
                if preview:
                    headers["X-Stability"] = _ref("X-Stability")
                if method == "post" and status.startswith("2"):
                    headers["Idempotent-Replayed"] = _ref("Idempotent-Replayed")
                if status == "201":
                    response["description"] = "Created."
                    headers["Location"] = _ref("Location")
                if status == "304" or (status.startswith("2") and _versioned(response, schemas)):
                    headers["ETag"] = _ref("ETag")
            success = responses.get(str(binding.route.success_status), {})
            links = _links(binding, bindings, success, schemas)
            if links:
                success["links"] = links
            responses["401"]["headers"]["WWW-Authenticate"] = _ref("WWW-Authenticate")
            responses["429"]["headers"]["Retry-After"] = _ref("Retry-After")
    return doc


def _links(
    source: Binding, bindings: list[Binding], answer: dict[str, Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    """OpenAPI links from an answer that holds one object (a create's, a read's, an update's
    or an action's) to every operation on that object (read, update, delete, actions, parts):
    its id from the created body or the request's path, and ``If-Match`` from the answer's
    ``ETag``. What a client, or a stateful fuzzer, follows from one call to the next."""
    if source.route.kind == "create":
        pointer = _id_pointer(answer, schemas)
        if pointer is None:
            return {}
        item, id_from = f"{source.route.path}/{{id}}", f"$response.body#{pointer}"
    elif source.route.path.count("{id}") == 1 and "ETag" in answer.get("headers", {}):
        item = source.route.path.split("{id}")[0] + "{id}"
        id_from = "$request.path.id"
    else:
        return {}
    links: dict[str, Any] = {}
    for binding in bindings:
        path = binding.route.path
        if binding is source or (path != item and not path.startswith(f"{item}/")):
            continue
        parameters = {"path.id": id_from}
        if binding.conditional and "ETag" in answer.get("headers", {}):
            parameters["header.If-Match"] = "$response.header.ETag"
        links[binding.op.name] = {
            "operationId": binding.op.name,
            "parameters": parameters,
            "description": f"The same object, by `{binding.op.name}`.",
        }
    return links


def _id_pointer(response: dict[str, Any], schemas: dict[str, Any]) -> str | None:
    """Where the new object's id sits in a create's body: ``/id``, or one object down
    (``/api_key/id``, beside a secret shown once)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    properties = schemas.get(schema.get("$ref", "").rsplit("/", 1)[-1], {}).get("properties", {})
    if "id" in properties:
        return "/id"
    for name, member in properties.items():
        inner = schemas.get(member.get("$ref", "").rsplit("/", 1)[-1], {})
        if "id" in inner.get("properties", {}):
            return f"/{name}/id"
    return None


def _versioned(response: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether a success response is one object with a ``version`` (so it has an ``ETag``)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    return "version" in schemas.get(name, {}).get("properties", {})


def _tags(bindings: list[Binding]) -> list[dict[str, str]]:
    """One tag per resource, in route order, described by its GraphQL type's description, with
    its routes' ``x-stability`` (a collection's, one for all its routes)."""
    tags: dict[str, str] = {}
    stability: dict[str, str] = {}
    for binding in bindings:
        if binding.route.tag not in tags:
            type_ = get_named_type(binding.op.field.type)
            if isinstance(type_, GraphQLObjectType) and "nodes" in type_.fields:  # a list
                type_ = get_named_type(type_.fields["nodes"].type)
            described = getattr(type_, "description", None) or ""
            tags[binding.route.tag] = described.removesuffix(".") + "." if described else ""
            stability[binding.route.tag] = binding.route.stability.value
    return [
        {"name": name, "description": text, "x-stability": stability[name]}
        for name, text in tags.items()
    ]


_EVENT_TIME = "2026-11-29T16:04:05.123456+00:00"
_WEBHOOK_RESPONSES = {
    "2XX": {"description": "Received: any 2xx acknowledges the event."},
    "4XX": {"description": "Refused: the event will be sent again later."},
}


def _event_payloads(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Each event type's payload as a component (``CustomerCreatedEvent``) whose
    ``data.object`` is the resource's REST object component, and as an OpenAPI 3.1 webhook,
    so that generated clients get a typed payload per event type."""
    webhooks = doc.setdefault("webhooks", {})
    for kind in event_types():
        object_schema = schemas[kind.resource.type_name]  # the REST object must exist
        schema = payload_schema(kind, lambda name: f"#/components/schemas/{name}")
        schema["examples"] = [
            {"type": kind.name, "timestamp": _EVENT_TIME, "data": {"object": example}}
            for example in object_schema.get("examples", [])[:1]
        ]
        schemas[kind.schema_name] = schema
        webhooks[kind.name] = {
            "post": {
                "operationId": kind.schema_name,
                "summary": f"`{kind.name}`",
                "description": f"{kind.description} (Payload version {PAYLOAD_VERSION}; "
                "the catalogue is `GET /api/public/v1/event_types`. Delivery is not "
                "available yet: this is the payload's contract.)",
                "tags": ["event types"],
                # The payload holds the resource's object: as stable as that resource is.
                "x-stability": kind.resource.stability.value,
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{kind.schema_name}"}
                        }
                    },
                },
                "responses": _WEBHOOK_RESPONSES,
            }
        }


def _bundled(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """``schema`` standing alone: each component it refers to (transitively) copied into its
    ``$defs``, each ``#/components/schemas/X`` rewritten ``#/$defs/X``."""
    prefix = "#/components/schemas/"
    needed: dict[str, Any] = {}

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, inner in value.items():
                if key == "$ref" and isinstance(inner, str) and inner.startswith(prefix):
                    name = inner.removeprefix(prefix)
                    if name not in needed:
                        needed[name] = None  # claimed before the walk: cycles end
                        needed[name] = rewrite(schemas[name])
                    out[key] = f"#/$defs/{name}"
                else:
                    out[key] = rewrite(inner)
            return out
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    bundled: dict[str, Any] = rewrite(schema)
    bundled["$defs"] = dict(sorted(needed.items()))
    return bundled


def event_catalogue(document: dict[str, Any]) -> dict[str, Any]:
    """The committed catalogue (``rest_facade/event_types.json``, ``asteri schema events``):
    every event type with its description, resource and standalone JSON Schema (2020-12),
    taken from the OpenAPI ``document`` so the two cannot differ."""
    schemas = document["components"]["schemas"]
    entries = []
    for kind in event_types():
        schema = {k: v for k, v in schemas[kind.schema_name].items() if k != "examples"}
        entries.append(
            {
                "name": kind.name,
                "description": kind.description,
                "resource": kind.resource.name,
                "schema": {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$id": f"{SCHEMA_BASE}{kind.name}.json",
                    **_bundled(schema, schemas),
                },
            }
        )
    return {"payload_version": PAYLOAD_VERSION, "event_types": entries}


def install_openapi(app: FastAPI, bindings: list[Binding]) -> None:
    """Build the document on first request (after every route exists), then serve it cached."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, bindings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
