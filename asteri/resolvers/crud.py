"""Generic org-scoped reads and audited writes. Per-resource modules add filters and rules.

Every function takes the ``UnitOfWork`` and never commits: the mutation boundary commits once,
so the row, its audit entry and its event land together or not at all.
"""

import hashlib
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import cache, cached_property
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, and_, bindparam, func, or_
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ColumnElement

from asteri.authz.tenancy import scoped, stamp, tenant, tenant_terms
from asteri.kit.db import UtcDateTime, utcnow
from asteri.kit.errors import BadUserInput, Conflict, FieldError, NotFound, PreconditionFailed
from asteri.kit.ids import new_public_id
from asteri.kit.naming import camel, pascal
from asteri.kit.pagination import Cursor, Page, decode_cursor, encode_cursor
from asteri.models.base import TenantRow, TimestampedRow
from asteri.resolvers.audit import record_change
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import refuse_nul

if TYPE_CHECKING:
    from asteri.models import Event
    from asteri.resolvers.lifecycle import Lifecycle

__all__ = [
    "DELETED",
    "UPDATED",
    "Collection",
    "Joined",
    "Log",
    "Resource",
    "SampleContext",
    "Snapshot",
    "Snapshots",
    "Sort",
    "Stability",
    "aware",
    "create",
    "equal_to",
    "example_id",
    "first_of_each",
    "get",
    "hold",
    "list_page",
    "matches_words",
    "newest_of_each",
    "occurred_between",
    "read",
    "read_many",
    "record",
    "soft_delete",
    "update",
    "updated_since",
]

M = TypeVar("M", bound=TenantRow)
R = TypeVar("R", bound=TimestampedRow)
Snapshot = Callable[[Any], dict[str, Any]]
# Each resource's ``Snapshot``, for a write that records events of other resources than its own
# (a payment's, on its invoice): ``schema.snapshot.snapshot_for``.
Snapshots = Callable[["Resource"], Snapshot]

# The events of the generic writes: ``<resource>.updated`` (``update``), ``.deleted``
# (``soft_delete``). A create's is ``Resource.created``; the others are declared per
# resource (``Transition.event``, ``Resource.action_events``).
UPDATED = "updated"
DELETED = "deleted"


def example_id(resource: "Collection") -> str:
    """A stable, well-formed id of ``resource`` for documentation: ``cus_…``."""
    return _example(resource.prefix, resource.name)


def example_event_id(resource: "Resource") -> str:
    """A stable, well-formed id of an event of ``resource`` for documentation: ``evt_…``."""
    return _example("evt", f"{resource.name}.{resource.created}")


def _example(prefix: str, name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    alphabet = string.digits + string.ascii_letters
    number = int.from_bytes(digest[:16])
    tail = ""
    for _ in range(22):
        number, digit = divmod(number, 62)
        tail += alphabet[digit]
    return f"{prefix}_{tail}"


@dataclass(frozen=True)
class SampleContext:
    """What a resource's sample input is made with. ``distinct`` (``""`` in the OpenAPI
    examples, ``-<random>`` in the tests) is appended to its names and email local parts, so
    that unique values stay unique. ``id_of(resource)`` is the id of an object of another
    resource the sample refers to (an appointment's customer): an example id in the docs, an
    object the tests create in the caller's tenant, one of the demo's own. ``event_of(resource)``
    is the id of an event recorded by a new object of ``resource`` (its create's), likewise."""

    distinct: str = ""
    id_of: Callable[["Resource"], str] = example_id
    event_of: Callable[["Resource"], str] = example_event_id


class Stability(Enum):
    """How far a collection's contract is promised (the developer portal's cards). A preview's
    routes, fields and payloads may still change without notice: its REST answers, and a
    GraphQL answer that touches one of its root fields, say so in ``x-stability: preview``; the
    OpenAPI document marks each operation (``x-stability``). Available is the promise kept
    across versions."""

    PREVIEW = "preview"  # "Private preview": may change, not yet for production
    AVAILABLE = "available"  # "Available now"


@dataclass(frozen=True, eq=False)  # one object per collection: hashed by identity
class Collection:
    """What reading an org-scoped collection takes: its table, its names and its ids. A
    ``Resource`` is a collection that routes also write; a ``Log`` one that only the service
    appends to. ``read``, ``read_many`` and ``list_page`` take either, through one filter."""

    model: type[TimestampedRow]  # a tenant table: organization_id and environment columns
    name: str  # singular, as in events: "customer" → customer.created
    prefix: str  # of its public ids: "cus" → cus_…
    # Read across the organization's environments (``tenancy.scoped``), not just the caller's.
    every_environment: bool = False
    plural: str = ""  # the collection, snake_case: "team_members" (default: name + "s")
    # Declared here once; its routes, OpenAPI operations and answers derive theirs from it.
    stability: Stability = Stability.PREVIEW

    @property
    def collection(self) -> str:
        return self.plural or f"{self.name}s"

    @property
    def type_name(self) -> str:
        """The GraphQL type: ``TeamMember``."""
        return pascal(self.name)

    def operation(self, verb: str) -> str:
        """A persisted operation's name by convention: ``List`` → ``ListTeamMembers``,
        ``Get`` → ``GetTeamMember``, and so on."""
        return f"{verb}{pascal(self.collection) if verb == 'List' else self.type_name}"


@dataclass(frozen=True, eq=False)
class Log(Collection):
    """An append-only record the service writes as a side effect (the event log, the audit
    log, the delivery history): read by id and listed (``GET /<plural>``, ``GET
    /<plural>/{id}``, from its ``.graphql`` file's ``List``/``Get`` operations), never written
    by a route. Declared in a resolver module named after it, like a resource."""


@dataclass(frozen=True, eq=False)
class Resource(Collection):
    """A resource, declared once: what the generic functions need, and what the route table,
    the persisted operations' names, the OpenAPI examples and the tests derive from it."""

    # Which unique constraint → which input field, to turn an IntegrityError into a clean 409.
    unique_fields: tuple[str, ...] = ()
    lifecycle: "Lifecycle | None" = None  # states and transitions (``resolvers/lifecycle.py``)
    # One sample create input, in GraphQL naming (``SampleContext`` says how it is made): the
    # tests, the OpenAPI examples and the demo all start from it.
    sample: Callable[[SampleContext], dict[str, Any]] | None = None
    change: dict[str, Any] = field(default_factory=dict)  # a sample update input
    invalid: dict[str, Any] = field(default_factory=dict)  # fails validation, not GraphQL types
    # REST actions besides its lifecycle's transitions: "rotate" → POST …/{id}/rotate, which
    # runs Rotate<Type>.
    actions: tuple[str, ...] = ()
    # The event each action emits (past tense): "rotate" → "rotated", api_key.rotated. The
    # resolver records ``event_of(action)``, and the event catalogue lists the same.
    action_events: Mapping[str, str] = field(default_factory=dict)
    # A sample input of each action that takes one (GraphQL naming), made like ``sample``: the
    # OpenAPI example of ``<Action><Type>Input`` and the tests' body. A transition that takes
    # a reason needs none (``Transition.reason``: a sample reason is given).
    action_samples: Mapping[str, Callable[[SampleContext], dict[str, Any]]] = field(
        default_factory=dict
    )
    # The states an action may start from, where not every state (``convert`` an approved
    # estimate): the resolver refuses others with 409 (``lifecycle.require_action_state``),
    # and the tests bring a new object there first.
    action_sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Read-only parts of one object: "activity" → GET …/{id}/activity (List<Type>Activity).
    parts: tuple[str, ...] = ()
    # The action that adds an entry to a part, where a write other than an update does
    # (``refund`` → a payment's ``refunds``): what the tests run to have entries to read.
    part_actions: Mapping[str, str] = field(default_factory=dict)
    # The operations (by verb) whose answer carries a secret shown once: never stored for an
    # Idempotency-Key replay.
    one_time_secrets: frozenset[str] = frozenset()
    created: str = "created"  # the event of a create: ``appointment.scheduled``
    # Events recorded on its objects other than by its own routes (verb → what it means): by
    # the service itself (``disabled`` → webhook_endpoint.disabled, when the worker gives up
    # on an endpoint), or by another resource's write (``paid`` → invoice.paid, a payment's).
    system_events: Mapping[str, str] = field(default_factory=dict)
    # The state an object its sample refers to must be in (resource name → state): a
    # payment's invoice is ``open``. Whoever makes the sample (the tests, the demo) brings
    # the object there first, along ``Lifecycle.paths``.
    refers_to: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.action_events) != set(self.actions):  # a declaration error, at import
            raise TypeError(f"{self.name}: declare the event of each action in action_events")
        if not set(self.action_sources) <= set(self.actions):
            raise TypeError(f"{self.name}: action_sources names an action it does not declare")
        if not set(self.part_actions) <= set(self.parts) or not set(
            self.part_actions.values()
        ) <= set(self.actions):
            raise TypeError(f"{self.name}: part_actions names a part or action it lacks")

    def event_of(self, action: str) -> str:
        """The verb of the event an action records: ``reschedule`` → ``rescheduled``."""
        return self.action_events[action]

    def sample_input(self, context: SampleContext | None = None) -> dict[str, Any]:
        """The sample create input (``sample``), which every resource must declare."""
        if self.sample is None:
            raise LookupError(f"the {self.name} resource declares no sample input")
        return self.sample(context or SampleContext())

    def action_input(self, action: str, context: SampleContext | None = None) -> dict[str, Any]:
        """The sample input of an action that takes one (``action_samples``, or a reason)."""
        if action in self.action_samples:
            return self.action_samples[action](context or SampleContext())
        lifecycle = self.lifecycle
        if lifecycle is not None and any(
            t.name == action and t.reason for t in lifecycle.transitions
        ):
            return {"reason": "The customer asked to call it off."}
        raise LookupError(f"the {self.name} resource declares no sample input for {action}")

    def action_field(self, action: str) -> str:
        """The mutation of an action (a transition, ``rotate``…), snake_case: ``archive`` →
        ``archive_customer`` (``archiveCustomer``)."""
        return f"{action}_{self.name}"

    def action_operation(self, action: str) -> str:
        """The persisted operation its REST action runs: ``archive`` → ``ArchiveCustomer``."""
        return self.operation(pascal(action))


@dataclass(frozen=True, eq=False)  # compared by identity: each is one member of an order enum
class Sort:
    """One public ordering: a column and a direction, tie-broken by public id. A resource's
    orderings are the members of one ``Enum`` whose values are ``Sort``s: the same enum is
    the GraphQL ``…Order`` type (``strawberry.enum``) and the REST ``order_by`` values."""

    name: str
    column: InstrumentedAttribute[Any]
    descending: bool

    @property
    def is_datetime(self) -> bool:
        return isinstance(self.column.type, UtcDateTime)


def matches_words(search: str | None, *columns: Any) -> list[ColumnElement[bool]]:
    """Each word (up to five) must appear in one of ``columns``, case-insensitively and
    literally: ``%`` and ``_`` in the input are not wildcards."""
    refuse_nul(search, "/filter/search")
    clauses: list[ColumnElement[bool]] = []
    for word in (search or "").lower().split()[:5]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        clauses.append(or_(*(func.lower(c).like(pattern, escape="\\") for c in columns)))
    return clauses


def aware(value: datetime | None, pointer: str) -> datetime | None:
    """A naive time is ambiguous (and a UTC column refuses it), and one whose UTC instant
    falls outside years 1 to 9999 cannot be stored or compared: a 422 at ``pointer``, not a
    500."""
    if value is None:
        return None
    name = pointer.rsplit("/", 1)[-1]
    if value.tzinfo is None:
        raise BadUserInput(
            f"`{name}` needs a UTC offset, e.g. 2026-01-01T00:00:00Z.",
            errors=[FieldError(pointer, "must include a UTC offset")],
        )
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise BadUserInput(
            f"`{name}` is out of range: its UTC time must fall in years 1 to 9999.",
            errors=[FieldError(pointer, "out of range")],
        ) from None
    return value


def equal_to(f: Any, columns: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """``column == value`` for each field of filter ``f`` that is set (field name → column);
    an enum filters by its value. Text with NUL is refused: no stored value has one."""
    clauses: list[ColumnElement[bool]] = []
    for name, column in columns.items():
        value = getattr(f, name)
        if value is None:
            continue
        value = value.value if isinstance(value, Enum) else value
        refuse_nul(value, f"/filter/{camel(name)}")
        clauses.append(column == value)
    return clauses


def occurred_between(
    column: Any, since: datetime | None, before: datetime | None, *, names: tuple[str, str]
) -> list[ColumnElement[bool]]:
    """A log's time window, ``since`` ≤ t < ``before`` (either end open), checked as
    ``aware`` checks it; ``names`` are the filter fields', for the error's pointer."""
    since = aware(since, f"/filter/{names[0]}")
    before = aware(before, f"/filter/{names[1]}")
    return [
        *(() if since is None else (column >= since,)),
        *(() if before is None else (column < before,)),
    ]


def updated_since(column: Any, since: datetime | None) -> list[ColumnElement[bool]]:
    since = aware(since, "/filter/updatedSince")
    return [] if since is None else [column >= since]


@cache
def _by_public_id(resource: Collection) -> Select[Any]:
    """Built once per resource: building SQL expressions costs more than running them."""
    model = resource.model
    return scoped(model, every_environment=resource.every_environment).where(
        model.__table__.c.public_id == bindparam("public_id")  # type: ignore[attr-defined]
    )


def _not_found(resource: Collection, public_id: str) -> NotFound:
    return NotFound(f"No {resource.name.replace('_', ' ')} with id `{public_id}`.")


def _issuable(resource: Collection, public_id: str) -> None:
    if "\x00" in public_id:  # not an id we could have issued (and not storable text)
        raise NotFound(f"No {resource.name.replace('_', ' ')} with that id.")


async def read(uow: UnitOfWork, resource: Collection, public_id: str) -> Any:
    """The row as plain columns (for a DTO), or 404 whether absent or another tenant's."""
    _issuable(resource, public_id)
    row = await uow.rows.one(_by_public_id(resource), tenant(uow.principal, public_id=public_id))
    if row is None:
        raise _not_found(resource, public_id)
    return row


async def get(uow: UnitOfWork, resource: Resource, public_id: str, *, reload: bool = False) -> Any:
    """The ORM row, to change in the request's transaction, or 404 as ``read``. ``reload``:
    read its columns again even if the session holds it (after a bulk ``UPDATE``), through
    the same filter (``session.refresh`` reads by primary key alone, which the guard refuses)."""
    _issuable(resource, public_id)
    statement = _by_public_id(resource)
    if reload:
        statement = statement.execution_options(populate_existing=True)
    row = (await uow.session.scalars(statement, tenant(uow.principal, public_id=public_id))).first()
    if row is None:
        raise _not_found(resource, public_id)
    return row


async def hold(
    uow: UnitOfWork, resource: Resource, public_id: str, expected_version: int | None
) -> None:
    """Lock the object a mutation changes, for the rest of its transaction, and check the
    version the caller expects (``If-Match``, ``expectedVersion``): 412 if it has another.

    Run before the mutation reads the object (``schema.fields.Precondition``), so writes to one
    object take turns: each reads what the one before committed, and of two writes naming the
    same version, the second finds it gone. The lock is a no-op ``UPDATE``: a row lock on
    PostgreSQL, and on SQLite the database's write lock (where its write transaction starts).
    Absent, deleted or another tenant's: nothing to hold, and the mutation answers its 404."""
    _issuable(resource, public_id)
    model = resource.model
    table = model.__table__  # type: ignore[attr-defined]
    terms = tenant_terms(model, every_environment=resource.every_environment)
    if "deleted_at" in table.c:
        terms.append(table.c.deleted_at.is_(None))
    held = await uow.session.execute(
        sql_update(table)
        .where(table.c.public_id == public_id, *terms)
        .values(version=table.c.version)
        .returning(table.c.version),
        tenant(uow.principal),
    )
    current = held.scalar()
    if current is not None and expected_version is not None and current != expected_version:
        raise PreconditionFailed(
            f"The {resource.name.replace('_', ' ')} `{public_id}` is at version {current}, "
            f"not {expected_version}: read it again, then decide.",
            reason="version_mismatch",
            current_version=current,
        )


async def read_many(uow: UnitOfWork, resource: Collection, public_ids: Sequence[str]) -> list[Any]:
    """Rows by public id in one statement, in the order asked, ``None`` where there is none
    (absent, deleted or another tenant's): what a DataLoader of related objects batches."""
    for public_id in public_ids:
        _issuable(resource, public_id)
    model = resource.model
    statement = scoped(model, every_environment=resource.every_environment).where(
        model.__table__.c.public_id.in_(sorted(set(public_ids)))  # type: ignore[attr-defined]
    )
    found = {row.public_id: row for row in await uow.rows.all(statement, tenant(uow.principal))}
    return [found.get(public_id) for public_id in public_ids]


async def first_of_each(
    uow: UnitOfWork, statement: Select[Any], parent_ids: Sequence[str], *, key: str, first: int
) -> list[list[Any]]:
    """The rows of ``statement`` (a ``scoped`` read, in its order) by their ``key`` column, at
    most ``first`` each, aligned with ``parent_ids``: one parent's list field for a whole
    page of parents (``Customer.appointments``), in one statement."""
    by_parent: dict[str, list[Any]] = {p: [] for p in parent_ids}
    for row in await uow.rows.all(statement, tenant(uow.principal)):
        found = by_parent[getattr(row, key)]
        if len(found) < first:
            found.append(row)
    return [by_parent[p] for p in parent_ids]


async def newest_of_each(
    uow: UnitOfWork, parent_ids: Sequence[str], *, resource: Collection, key: str, first: int
) -> list[list[Any]]:
    """The newest ``first`` rows of ``resource`` of each parent (its ``key`` column: a
    customer's invoices, an invoice's payments), in one statement: the batch of a parent's
    list field (``partial(newest_of_each, resource=…, key=…)``)."""
    model: Any = resource.model
    statement = (
        scoped(model, every_environment=resource.every_environment)
        .where(getattr(model, key).in_(list(parent_ids)))
        .order_by(model.created_at.desc(), model.public_id.desc())
    )
    return await first_of_each(uow, statement, parent_ids, key=key, first=first)


@dataclass(frozen=True)
class Joined:
    """A to-one related row read with each row of a list, in the list's own statement (when
    the caller will show it): ``resource``'s row whose ``public_id`` is the listed row's
    ``on`` column. ``list_page`` returns them, aligned with the items, in ``Page.joined``;
    ``None`` where the related row is deleted."""

    resource: Resource
    on: str

    @cached_property
    def columns(self) -> list[Any]:
        table = self.resource.model.__table__  # type: ignore[attr-defined]
        return [c.label(f"joined__{c.name}") for c in table.c]

    def split(self, row: Any) -> Any:
        values = {c.name.removeprefix("joined__"): getattr(row, c.name) for c in self.columns}
        return None if values.get("deleted_at") is not None else SimpleNamespace(**values)


async def list_page(
    uow: UnitOfWork,
    resource: Collection,
    *,
    where: Sequence[ColumnElement[bool]],
    sort: Sort,
    first: int,
    after: str | None,
    joined: Joined | None = None,
) -> Page[Any]:
    model = resource.model
    stmt = scoped(model, every_environment=resource.every_environment).where(*where)
    if joined is not None:
        other = joined.resource.model
        stmt = (
            stmt.join(
                other,
                other.__table__.c.public_id == model.__table__.c[joined.on],  # type: ignore[attr-defined]
            )
            .where(*tenant_terms(other))
            .add_columns(*joined.columns)
        )
    id_col: InstrumentedAttribute[Any] = model.public_id  # type: ignore[assignment]
    if after:  # an empty cursor is no cursor: the first page
        cursor = decode_cursor(after, sort=sort.name, is_datetime=sort.is_datetime)
        if sort.descending:
            stmt = stmt.where(
                or_(
                    sort.column < cursor.value,
                    and_(sort.column == cursor.value, id_col < cursor.public_id),
                )
            )
        else:
            stmt = stmt.where(
                or_(
                    sort.column > cursor.value,
                    and_(sort.column == cursor.value, id_col > cursor.public_id),
                )
            )
    order = (sort.column.desc(), id_col.desc()) if sort.descending else (sort.column, id_col)
    rows = await uow.rows.all(stmt.order_by(*order).limit(first + 1), tenant(uow.principal))
    items = rows[:first]
    end_cursor = None
    if items:
        last = items[-1]
        end_cursor = encode_cursor(
            Cursor(sort=sort.name, value=getattr(last, sort.column.key), public_id=last.public_id)
        )
    return Page(
        items=items,
        has_next_page=len(rows) > first,
        end_cursor=end_cursor,
        joined=[joined.split(r) for r in items] if joined is not None else None,
    )


async def _flush(uow: UnitOfWork, resource: Resource) -> None:
    try:
        await uow.session.flush()
    except StaleDataError:  # an object this write did not hold changed under it
        raise Conflict(
            f"A {resource.name.replace('_', ' ')} changed while this request changed it; "
            "send it again.",
            reason="concurrent_write",
        ) from None
    except IntegrityError:
        fields = resource.unique_fields
        raise Conflict(
            f"A {resource.name.replace('_', ' ')} with the same "
            f"{' or '.join(fields) or 'unique value'} already exists.",
            errors=[FieldError(f"/input/{f}", "already in use") for f in fields],
        ) from None


async def create(
    uow: UnitOfWork,
    resource: Resource,
    row: M,
    snapshot: Snapshot,
    *,
    fields: list[str],
) -> M:
    """Insert a new row for the caller's tenant; ``fields`` are the public fields supplied.
    Its event is the resource's ``created`` (``appointment.scheduled``). A row given its id
    keeps it (another row of the same write named it first)."""
    row.public_id = row.public_id or new_public_id(resource.prefix)
    stamp(row, uow.principal)
    now = utcnow()
    row.created_at = now
    row.updated_at = now
    uow.session.add(row)
    await _flush(uow, resource)
    record(uow, resource, row, resource.created, sorted(fields), snapshot)
    return row


async def update(
    uow: UnitOfWork,
    resource: Resource,
    row: R,
    changes: dict[str, Any],
    snapshot: Snapshot,
    *,
    verb: str = UPDATED,
    public_fields: dict[str, str] | None = None,
    derived: dict[str, Any] | None = None,
) -> R:
    """Apply ``changes`` (column → value); audit only what actually changed. No change, no event.

    ``public_fields`` maps a column to the public field name recorded in the audit entry;
    ``derived`` columns (search text) follow a change but are not themselves audited. The
    row's ``version`` counts the change by itself (``models.base.Versioned``).
    """
    changed = [k for k, v in changes.items() if getattr(row, k) != v]
    if not changed:
        return row
    for key, value in {**changes, **(derived or {})}.items():
        setattr(row, key, value)
    if isinstance(row, TenantRow):
        row.updated_at = utcnow()
    uow.session.add(row)
    await _flush(uow, resource)
    names = sorted({(public_fields or {}).get(k, k) for k in changed})
    record(uow, resource, row, verb, names, snapshot)
    return row


async def soft_delete(uow: UnitOfWork, resource: Resource, row: M, snapshot: Snapshot) -> M:
    """Deleted rows vanish from every read (a 404 after) but keep their audit history."""
    now = utcnow()
    row.deleted_at = now
    row.updated_at = now
    uow.session.add(row)
    await _flush(uow, resource)
    record(uow, resource, row, DELETED, [], snapshot)
    return row


def record(
    uow: UnitOfWork, resource: Resource, row: Any, verb: str, changed: list[str], snapshot: Snapshot
) -> "Event":
    """The audit entry and event ``<resource>.<verb>`` of a write to ``row``, in its transaction
    (for writes the generic functions above do not cover, such as a key's rotation)."""
    return record_change(
        uow,
        resource_type=resource.name,
        verb=verb,
        resource_id=row.public_id,
        changed_fields=changed,
        payload=snapshot(row),
    )
