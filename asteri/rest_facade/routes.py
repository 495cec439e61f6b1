"""Route declarations + persisted operations → FastAPI routes, built once at start-up.

A REST call is the persisted operation run through the same schema, context and permission
checks as a GraphQL call; this module only maps HTTP onto variables and the result onto a REST
body.
"""

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    NonNullTypeNode,
    OperationDefinitionNode,
    get_named_type,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from starlette import routing

from asteri.http.conditional import etag, expected_version, not_modified
from asteri.kit.errors import ApiError
from asteri.kit.naming import camel, camel_keys, snake
from asteri.kit.settings import get_settings
from asteri.resolvers.registry import validated_inputs
from asteri.rest_facade.idempotency import first_id, idempotency_key, idempotent
from asteri.rest_facade.problems import coded_problem, graphql_problem
from asteri.rest_facade.types import InputTypes, OutputTypes, Recase, recaser
from asteri.schema.build import AsteriSchema, declared_description
from asteri.schema.compiled import CompiledRead, compile_read
from asteri.schema.context import RequestContext, get_context, open_context
from asteri.schema.fields import EXPECTED_VERSION
from asteri.schema.operations import LIST_PARAMETERS, Route
from asteri.schema.permissions_runner import FieldPermissions
from asteri.schema.persisted import PersistedOperation
from asteri.schema.stability import mark

__all__ = ["Binding", "JSONBody", "build_router", "compiled_read_routes"]


class JSONBody(JSONResponse):
    """A body the binding already serialised (orjson), sent as is. A ``JSONResponse`` so that
    the OpenAPI document gives each success response its media type and its schema (the
    route's ``response_model``)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


_PATH_PARAM = re.compile(r"{(\w+)}")
_TO_VARIABLE = {p.rest: p.variable for p in LIST_PARAMETERS}
_TO_ARGUMENT = {p.rest: p.argument for p in LIST_PARAMETERS}


@dataclass
class Binding:
    """One route bound to one persisted operation: request → variables, data → body."""

    route: Route
    op: PersistedOperation
    schema: AsteriSchema
    path_params: list[str]
    query_model: type[BaseModel] | None
    body_model: type[BaseModel] | None
    response_model: Any
    object_name: str | None  # the `object` member added to resource bodies
    compiled: CompiledRead | None = None  # reads that skip per-field GraphQL execution
    preflight: FieldPermissions | None = None  # the root field's permissions, for the others
    # The executed operation's data (a resource, or each item of a list) in REST spelling:
    # its enum values through ``rest_enum``. A compiled read spells them so itself.
    recase: Recase | None = None
    # Changes one object, whose version ``If-Match`` may name (its ``$expectedVersion``).
    conditional: bool = False
    # A read whose root field is a plain list of objects (``eventTypes``): the list envelope,
    # each item a resource body with its ``object``.
    listed: bool = False
    # Its ``$input`` may be null (every field has a default): the body may be left out.
    body_optional: bool = False

    async def handle(self, request: Request, context: RequestContext, **params: Any) -> Response:
        _ = context.principal  # a failed authentication raises its 401/403 here
        if self.conditional:
            params["expected_version"] = expected_version(request)
        if self.preflight is not None:
            # The root field's own permissions, run as the execution would run them, before an
            # Idempotency-Key is claimed: a request they refuse stores nothing. (A compiled read
            # runs them itself, around its resolver.)
            refused = await self.preflight.refusal(context, self.variables(params))
            if refused is not None:
                return graphql_problem(request, refused)
        key = idempotency_key(request) if self.route.method == "POST" else None
        if key is None:
            response = await self.respond(request, context, params)
        else:
            response = await idempotent(
                request,
                context,
                key=key,
                route=f"{self.route.method} {self.route.path}",
                run=lambda: self.respond(request, context, params),
                one_time_secret=self.route.one_time_secret,
            )
        if response.status_code == 201:  # a create, fresh or replayed: where the object lives
            created = first_id(orjson.loads(response.body))
            if created is not None:
                response.headers["location"] = f"{request.url.path.rstrip('/')}/{created}"
        current = response.headers.get("etag")
        if self.route.kind == "retrieve" and current is not None and not_modified(request, current):
            return Response(status_code=304, headers={"etag": current})
        return response

    async def serve(self, request: Request) -> Response:
        """A compiled read served directly (``compiled_read_routes``): the same context, checks
        and problems as the FastAPI-solved endpoint, without per-request dependency solving. It
        may authenticate from the key cache (see ``CompiledRead.answer``)."""
        await self.mark(request)
        context = await open_context(request, cached=True)
        try:
            params: dict[str, Any] = {name: request.path_params[name] for name in self.path_params}
            if self.query_model is not None:
                try:
                    params["query"] = self.query_model.model_validate(
                        _query_values(self.query_model, request)
                    )
                except ValidationError as exc:
                    raise RequestValidationError(
                        [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
                    ) from None
            return await self.handle(request, context, **params)
        finally:
            await context.finish()

    async def mark(self, request: Request) -> None:
        """Every answer of this route says its stability (``schema/stability.py``): run first,
        so a refusal (401, 422) says it too. A FastAPI dependency of the route."""
        mark(request.state, self.route.stability)

    async def respond(
        self, request: Request, context: RequestContext, params: dict[str, Any]
    ) -> Response:
        """Run the persisted operation; its data as the REST body, or its error as a problem."""
        if self.compiled is not None:
            try:
                data = await self.compiled.run(
                    context, self.arguments(params), lambda: self.variables(params)
                )
            except ApiError as error:
                return coded_problem(request, error.detail, error.extensions())
            return self.body(data, compiled=True)
        result = await self.schema.execute(
            self.op.rest_source,
            variable_values=self.variables(params),
            context_value=context,
            operation_name=self.op.name,
        )
        if result.errors:
            return graphql_problem(request, result.errors[0])
        if self.route.success_status == 204:
            return Response(status_code=204)
        assert result.data is not None
        data = result.data[snake(self.op.root_field)]
        for key in self.route.result_path:
            data = data[key]
        return self.body(data)

    def body(self, data: Any, *, compiled: bool = False) -> Response:
        """The REST body; an object's answer carries its ``ETag`` (its version)."""
        response = JSONBody(
            orjson.dumps(self.shape(data, compiled=compiled)), status_code=self.route.success_status
        )
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int) and self.route.kind != "list":
            response.headers["etag"] = etag(version)
        return response

    def arguments(self, params: dict[str, Any]) -> dict[str, Any]:
        """Python arguments of the root resolver (the compiled path's ``variables``)."""
        arguments: dict[str, Any] = {name: params[name] for name in self.path_params}
        query = params.get("query")
        if isinstance(query, BaseModel):
            sent = query.model_dump(exclude_unset=True)
            arguments |= {_TO_ARGUMENT[k]: v for k, v in sent.items() if k in _TO_ARGUMENT}
            filters = {k: v for k, v in sent.items() if k not in _TO_ARGUMENT}
            if filters:
                arguments["filter"] = filters
        return arguments

    def variables(self, params: dict[str, Any]) -> dict[str, Any]:
        variables: dict[str, Any] = {camel(name): params[name] for name in self.path_params}
        if self.conditional:
            variables[camel(EXPECTED_VERSION)] = params.get("expected_version")
        query = params.get("query")
        if isinstance(query, BaseModel):
            sent = query.model_dump(mode="json", exclude_unset=True)
            filters = {camel(k): v for k, v in sent.items() if k not in _TO_VARIABLE}
            variables |= {_TO_VARIABLE[k]: v for k, v in sent.items() if k in _TO_VARIABLE}
            if filters:
                variables["filter"] = filters
        body = params.get("body")
        if isinstance(body, BaseModel):
            variables["input"] = camel_keys(body.model_dump(mode="json", exclude_unset=True))
        return variables

    def shape(self, data: Any, *, compiled: bool = False) -> Any:
        """The REST body. A compiled read's resources already lead with ``object``."""
        recase = self.recase if not compiled and self.recase is not None else None
        if self.route.kind == "list":
            page = data["page_info"]
            nodes = [recase(n) for n in data["nodes"]] if recase else data["nodes"]
            return {
                "object": "list",
                "data": nodes
                if compiled
                else [{"object": self.object_name, **node} for node in nodes],
                "has_more": page["has_next_page"],
                "next_cursor": page["end_cursor"],
            }
        if isinstance(data, list):
            items = [recase(d) for d in data] if recase else data
            if self.listed:
                items = [{"object": self.object_name, **item} for item in items]
            return {"object": "list", "data": items, "has_more": False, "next_cursor": None}
        if recase is not None:
            data = recase(data)
        return data if compiled else {"object": self.object_name, **data}


def _bind(
    route: Route,
    schema: AsteriSchema,
    inputs: InputTypes,
    outputs: OutputTypes,
    compiled_reads: bool,
) -> Binding:
    op = schema.persisted.by_name[route.operation]
    definition = next(
        d for d in op.rest_document.definitions if isinstance(d, OperationDefinitionNode)
    )
    fragments = {
        d.name.value: d
        for d in op.rest_document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    variables = {v.variable.name.value: v for v in definition.variable_definitions or ()}
    path_params = _PATH_PARAM.findall(route.path)
    for name in path_params:
        if camel(name) not in variables:
            raise RuntimeError(f"{route.path}: {op.name} has no ${camel(name)} variable")

    root = next(s for s in definition.selection_set.selections if isinstance(s, FieldNode))
    field_type = get_named_type(op.field.type)
    selection = root.selection_set
    for key in route.result_path:  # walk down to a sub-resource
        assert isinstance(field_type, GraphQLObjectType)
        assert selection is not None
        node = next(
            n
            for n in selection.selections
            if isinstance(n, FieldNode) and n.name.value == camel(key)
        )
        field_type = get_named_type(field_type.fields[node.name.value].type)
        selection = node.selection_set
    assert isinstance(field_type, GraphQLObjectType)
    assert selection is not None

    root_type = (
        op.field.type.of_type if isinstance(op.field.type, GraphQLNonNull) else op.field.type
    )
    listed = not route.result_path and isinstance(root_type, GraphQLList)
    query_model = body_model = None
    body_optional = False
    recase: Recase | None = None
    object_name: str | None = snake(field_type.name)
    if route.kind == "list":
        nodes = next(
            n for n in selection.selections if isinstance(n, FieldNode) and n.name.value == "nodes"
        )
        item_type = get_named_type(field_type.fields["nodes"].type)
        assert isinstance(item_type, GraphQLObjectType)
        assert nodes.selection_set is not None
        item = outputs.object_model(item_type, nodes.selection_set, fragments, resource=True)
        recase = recaser(item_type, nodes.selection_set, fragments)
        object_name = snake(item_type.name)
        response_model: Any = _list_model(item)
        query_model = _query_model(op, variables, schema)
    elif route.kind == "delete":
        response_model = None
    elif route.result_path:
        response_model = _list_model(outputs.object_model(field_type, selection, fragments))
    elif listed:
        item = outputs.object_model(field_type, selection, fragments, resource=True)
        response_model = _list_model(item)
    else:
        response_model = outputs.object_model(field_type, selection, fragments, resource=True)
    if route.kind != "list":
        recase = recaser(field_type, selection, fragments)
    if "input" in variables and route.kind in ("create", "update", "action"):
        input_type = schema._schema.get_type(_type_name(variables["input"].type))
        assert isinstance(input_type, GraphQLInputObjectType)
        body_model = inputs.model(input_type)
        body_optional = not isinstance(variables["input"].type, NonNullTypeNode)
    # A mutation of one object takes ``expectedVersion`` (``fields.Precondition``): its REST
    # route passes ``If-Match`` there, so its persisted operation must declare the variable.
    conditional = camel(EXPECTED_VERSION) in op.field.args
    if conditional and camel(EXPECTED_VERSION) not in variables:
        raise RuntimeError(f"{route.path}: {op.name} has no ${camel(EXPECTED_VERSION)} variable")
    compiled = None
    if route.kind in ("list", "retrieve") and not route.result_path and compiled_reads:
        compiled = compile_read(schema, op, op.rest_document, rest=True)
    preflight = (
        None if compiled else FieldPermissions.of(schema, op.rest_document, whole_chain=False)
    )
    return Binding(
        route,
        op,
        schema,
        path_params,
        query_model,
        body_model,
        response_model,
        object_name,
        compiled,
        preflight,
        recase,
        conditional,
        listed,
        body_optional,
    )


def _query_values(model: type[BaseModel], request: Request) -> dict[str, Any]:
    """The query string as the model's fields take it: a list field gets every value of a
    repeated parameter (``?status=A&status=B``), as FastAPI would parse it."""
    query = request.query_params
    return {
        name: query.getlist(name) if _is_list(model, name) else value
        for name, value in query.items()
    }


def _is_list(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is None:
        return False
    annotation = field.annotation
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return any(get_origin(a) is list for a in (annotation, *options))


def _type_name(node: Any) -> str:
    while not hasattr(node, "name"):
        node = node.type
    return str(node.name.value)


def _list_model(item: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "object": (Literal["list"], ...),
        "data": (list[item], ...),  # type: ignore[valid-type]
        "has_more": (bool, Field(description="Whether another page follows.")),
        "next_cursor": (str | None, Field(description="Pass as `cursor` for the next page.")),
    }
    return create_model(f"{item.__name__}List", **fields)


def _query_model(
    op: PersistedOperation, variables: dict[str, Any], schema: AsteriSchema
) -> type[BaseModel]:
    """``limit``/``cursor``/``order_by`` plus the filter's fields, flattened, as query params."""
    lax = InputTypes(strict=False)
    settings = get_settings()
    limit, cursor, order_by = LIST_PARAMETERS
    page_size = Field(default=settings.default_page_size, ge=1, le=settings.max_page_size)
    fields: dict[str, Any] = {
        limit.rest: (int, page_size),
        cursor.rest: (
            str | None,
            Field(default=None, description="`next_cursor` of the previous page."),
        ),
    }
    if order_by.variable in variables:
        order_type = schema._schema.get_type(_type_name(variables[order_by.variable].type))
        fields[order_by.rest] = (lax.annotation(order_type) | None, Field(default=None))
    if "filter" in variables:
        filter_type = schema._schema.get_type(_type_name(variables["filter"].type))
        assert isinstance(filter_type, GraphQLInputObjectType)
        for name, field in filter_type.fields.items():
            inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            fields[snake(name)] = (
                lax.annotation(inner),
                Field(default=None, description=field.description),
            )
    return create_model(f"{op.name}Query", __config__=ConfigDict(extra="forbid"), **fields)


def _endpoint(binding: Binding) -> Callable[..., Awaitable[Response]]:
    """A function whose signature tells FastAPI what to parse, validate and document."""

    async def endpoint(request: Request, context: RequestContext, **params: Any) -> Response:
        return await binding.handle(request, context, **params)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter(
            "context",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[RequestContext, Depends(get_context)],
        ),
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for name in binding.path_params
    ]
    if binding.query_model is not None:
        parameters.append(
            inspect.Parameter(
                "query",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[binding.query_model, Query()],
            )
        )
    if binding.body_model is not None:
        parameters.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[binding.body_model, Body()],
                # Left out: FastAPI passes None, and the operation's ``$input`` defaults.
                default=None if binding.body_optional else inspect.Parameter.empty,
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return endpoint


def build_router(
    schema: AsteriSchema, routes: list[Route], *, compiled_reads: bool = True
) -> tuple[APIRouter, list[Binding]]:
    inputs, outputs = InputTypes(strict=True, validated=validated_inputs()), OutputTypes()
    router = APIRouter()
    bindings = []
    for route in routes:
        binding = _bind(route, schema, inputs, outputs, compiled_reads)
        description = declared_description(binding.op.field) or ""
        router.add_api_route(
            route.path,
            _endpoint(binding),
            methods=[route.method],
            status_code=route.success_status,
            response_model=binding.response_model,
            response_class=JSONBody if binding.response_model is not None else Response,
            operation_id=binding.op.name,
            summary=description.split(";")[0].rstrip("."),
            description=description,
            tags=[route.tag],
            # Before the endpoint's own parameters are solved: their 422 is marked too.
            dependencies=[Depends(binding.mark)],
            openapi_extra={
                "x-required-scopes": [s.value for s in binding.op.scopes],
                "x-stability": route.stability.value,
            },
        )
        bindings.append(binding)
    return router, bindings


def compiled_read_routes(bindings: list[Binding], prefix: str) -> list[routing.BaseRoute]:
    """The compiled reads as plain Starlette routes, for the front of the app's route list:
    matched by one regex each instead of FastAPI's included-router machinery (about a tenth of
    a point read's CPU with our number of routes). Same handler (``Binding.serve``), same
    exception handlers (Starlette's ``request_response``); the FastAPI routes stay for
    documentation, and for any method these do not serve."""
    return [
        routing.Route(
            prefix + binding.route.path,
            binding.serve,  # Starlette wraps it: request → response, exception handlers
            methods=[binding.route.method],
            include_in_schema=False,
        )
        for binding in bindings
        if binding.compiled is not None
    ]
