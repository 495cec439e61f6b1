"""Every resource the matrices cover, derived: nothing here names a resource.

Each ``Resource`` the resolvers declare becomes a ``ResourceCase``: its documents follow
from the schema's conventions (``create<Type>``, ``<type>(id:)``, ``<plural>(first:)`` …),
its inputs from the resource's one sample, update and invalid input. The tenancy,
environment and audit matrices in ``test_tenancy.py`` and ``test_audit.py`` run each case;
the scope matrix walks the schema itself. A resource without a sample fails
``test_tenancy.py::test_every_resource_has_a_case``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLObjectType, Undefined, get_named_type

from asteri.authz.permissions import RequiresKeyManager
from asteri.kit.naming import camel, snake
from asteri.resolvers.crud import Resource
from asteri.resolvers.registry import resources
from asteri.schema import build_schema
from asteri.schema.operations import ROUTES
from tests.factories import Api, Credential, sample_input


@dataclass(frozen=True)
class ResourceCase:
    name: str  # event/audit resource type, e.g. "customer"
    collection: str  # REST collection, e.g. "team_members"
    prefix: str  # public id prefix with underscore, e.g. "cus_"
    create: str  # mutation($input: …!) { createX(input: $input) { id } }
    # The sample input, its references made in the caller's tenant (``factories.sample_input``).
    create_input: Callable[[Api, Credential], dict[str, Any]]
    get: str  # query($id: ID!) { x(id: $id) { id } }
    listing: str  # query { xs(first: 100, …) { nodes { id } } } (every state included)
    update: str  # mutation($id: ID!, $input: …!) { updateX(id: $id, input: $input) { id } }
    update_input: Callable[[], dict[str, Any]]
    update_fields: list[str]  # snake_case public fields that update_input changes
    delete: str | None  # mutation($id: ID!) { deleteX(id: $id) { id } }, None if no delete
    # An input that passes GraphQL's types but not the resource's validation.
    invalid_input: dict[str, Any] = field(default_factory=dict)
    created_verb: str = "created"  # the event of ``create``
    delete_verb: str = "deleted"  # the event of ``delete``
    # Managed by an owner's or admin's session (the security center), never by a key.
    manager: bool = False
    # Rows of the whole organization, seen from both its environments.
    every_environment: bool = False
    id_path: tuple[str, ...] = ("id",)  # where ``create``'s answer holds the new id

    def credential(
        self, api: Api, *, org: str | None = None, environment: str = "live"
    ) -> Credential:
        """Who may write this resource in ``org`` (a new organization by default)."""
        key = api.key(org=org, environment=environment)
        return api.session(org_key=key) if self.manager else key

    def first_key(self, document: str) -> str:
        """The root field name of an operation document, e.g. ``createCustomer``."""
        body = document[document.index("{") + 1 :]
        return body.split("(")[0].split("{")[0].strip()

    def created_id(self, data: dict[str, Any]) -> str:
        """The new object's id in the answer of ``create`` (at ``id_path`` below its field)."""
        found: Any = data[self.first_key(self.create)]
        for key in self.id_path:
            found = found[key]
        return str(found)


def declared_resources() -> list[Resource]:
    """Every ``Resource`` of the resolver modules (``resolvers/registry.py``)."""
    return list(resources())


def _id_path(create: GraphQLObjectType, type_name: str) -> tuple[str, ...]:
    """``("id",)`` when ``create`` returns the object, else the path to it (``apiKey``)."""
    if "id" in create.fields:
        return ("id",)
    (holder,) = [n for n, f in create.fields.items() if get_named_type(f.type).name == type_name]
    return (holder, "id")


def _every_state(schema: Any, root: str) -> str:
    """The list's filter argument with each defaulted condition cleared (``archived: null``),
    so the list includes every state."""
    argument = schema._schema.query_type.fields[root].args.get("filter")
    if argument is None:
        return ""
    fields = get_named_type(argument.type).fields
    cleared = [
        f"{name}: null"
        for name, f in fields.items()
        if f.default_value is not Undefined and f.default_value is not None
    ]
    return f", filter: {{{', '.join(cleared)}}}" if cleared else ""


def case_of(resource: Resource) -> ResourceCase:
    assert resource.sample is not None, f"{resource.name} declares no sample input"
    schema = build_schema()
    t = resource.type_name
    assert schema._schema.mutation_type is not None
    mutations = schema._schema.mutation_type.fields
    created = get_named_type(mutations[f"create{t}"].type)
    assert isinstance(created, GraphQLObjectType)
    id_path = _id_path(created, t)
    selection = "{ id }" if id_path == ("id",) else f"{{ {id_path[0]} {{ id }} }}"
    plural = camel(resource.collection)
    strawberry_create = schema.get_type_by_name("Mutation").fields  # type: ignore[union-attr]
    create_field = next(f for f in strawberry_create if f.python_name == f"create_{resource.name}")
    manager = any(
        isinstance(p, RequiresKeyManager)
        for e in create_field.extensions
        for p in getattr(e, "permissions", [])
    )
    deletable = any(r.operation == resource.operation("Delete") for r in ROUTES)
    root = camel(resource.name)
    return ResourceCase(
        name=resource.name,
        collection=resource.collection,
        prefix=f"{resource.prefix}_",
        create=f"mutation($input: Create{t}Input!) {{ create{t}(input: $input) {selection} }}",
        create_input=lambda api, cred: sample_input(api, resource, cred),
        get=f"query($id: ID!) {{ {root}(id: $id) {{ id }} }}",
        listing=(
            f"query {{ {plural}(first: 100{_every_state(schema, plural)}) {{ nodes {{ id }} }} }}"
        ),
        update=(
            f"mutation($id: ID!, $input: Update{t}Input!) "
            f"{{ update{t}(id: $id, input: $input) {{ id }} }}"
        ),
        update_input=lambda: dict(resource.change),
        update_fields=sorted(snake(k) for k in resource.change),
        delete=f"mutation($id: ID!) {{ delete{t}(id: $id) {{ id }} }}" if deletable else None,
        invalid_input=dict(resource.invalid),
        created_verb=resource.created,
        manager=manager,
        every_environment=resource.every_environment,
        id_path=id_path,
    )


RESOURCES: list[ResourceCase] = [case_of(r) for r in declared_resources()]
