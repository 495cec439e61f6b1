"""States and transitions, declared once per resource.

A resource's ``Lifecycle`` names its states and, for each ``Transition``, the states it may
start from, the state it leads to and the event it emits. From that one declaration come the
GraphQL mutation (``schema/lifecycle.py``: ``archiveCustomer``), the REST action
(``POST /customers/{id}/archive``, in the route table), the audit entry and the event
(``customer.archived``), all in the write's transaction. A transition may take an input (a
pydantic model: a cancellation's reason, an approval's approver), validated before the row is
read and handed, with the caller, to the lifecycle's ``columns``. A transition from a state it does
not start from is refused with 409 ``invalid_transition``, naming the current state and the
transitions allowed from it, and changes nothing.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel

from asteri.authz.principal import Principal
from asteri.kit.db import utcnow
from asteri.kit.errors import Conflict
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, Snapshot, Snapshots
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank, validate

__all__ = [
    "Entering",
    "Lifecycle",
    "Reason",
    "Transition",
    "require_action_state",
    "require_state",
    "transition",
]


class Reason(BaseModel):
    """Why a transition that takes a reason was taken (``Transition.reason``)."""

    reason: Annotated[str, non_blank(500)]


@dataclass(frozen=True)
class Transition:
    name: str  # imperative, snake_case: `archive` → archiveCustomer, POST /customers/{id}/archive
    sources: tuple[str, ...]  # the states it may start from
    target: str
    event: str  # past tense: customer.archived
    description: str
    # It takes a required ``reason`` (cancelling an appointment): shorthand for
    # ``input=Reason``, whose GraphQL input ``{reason}`` is derived.
    reason: bool = False
    # What it takes: the mutation's ``input: <Transition><Type>Input!`` (declared in the
    # resource's schema module, unless it is ``Reason``) and the REST action's body; validated,
    # then handed to the lifecycle's ``columns`` (``Entering.input``).
    input: type[BaseModel] | None = None

    def __post_init__(self) -> None:
        if self.reason:
            object.__setattr__(self, "input", Reason)


@dataclass(frozen=True)
class Entering:
    """What ``Lifecycle.columns`` is told of a change of state: the state entered, when, the
    transition's validated input (if it takes one), who made the change, and the object as it
    was (an invoice's terms give its due date)."""

    state: str
    at: datetime
    input: BaseModel | None
    principal: Principal
    row: Any

    @property
    def reason(self) -> str | None:
        return self.input.reason if isinstance(self.input, Reason) else None


@dataclass(frozen=True)
class Lifecycle:
    """``states[0]`` is a new object's state; ``state`` reads a row's state; ``columns`` says
    what entering a state writes (``Entering``: when, with what input, by whom; it may refuse
    with a 422); ``public_fields`` names those columns as the audit records them.

    ``then`` is what else entering a state changes, in the same transaction, once the row is
    written (a payment that succeeds pays its invoice): given the unit of work, the row, what
    was entered, and the event payloads of other resources (``Snapshots``). It may refuse
    (a 409), and then nothing of the transition lands."""

    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    state: Callable[[Any], str]
    columns: Callable[[Entering], dict[str, Any]]
    public_fields: Mapping[str, str] = field(default_factory=dict)
    then: Callable[[UnitOfWork, Any, Entering, Snapshots], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        names = [t.name for t in self.transitions]
        assert len(set(names)) == len(names), f"duplicate transitions in {names}"
        for t in self.transitions:
            unknown = {t.target, *t.sources} - set(self.states)
            assert not unknown, f"{t.name}: unknown states {sorted(unknown)}"

    def paths(self) -> dict[str, list[Transition]]:
        """The transitions that bring a new object (``states[0]``) to each reachable state,
        fewest first."""
        paths: dict[str, list[Transition]] = {self.states[0]: []}
        frontier = [self.states[0]]
        while frontier:
            state = frontier.pop(0)
            for t in self.transitions:
                if state in t.sources and t.target not in paths:
                    paths[t.target] = [*paths[state], t]
                    frontier.append(t.target)
        return paths

    def named(self, name: str) -> Transition:
        return next(t for t in self.transitions if t.name == name)

    def allowed_from(self, state: str) -> list[str]:
        """The transitions that may start from ``state``, in declaration order."""
        return [t.name for t in self.transitions if state in t.sources]

    def event_of(self, before: str, after: str) -> str | None:
        """The event of the change ``before`` → ``after``, when a transition makes it (an
        update that changes the state is that transition, whichever mutation sent it)."""
        for t in self.transitions:
            if t.target == after and before in t.sources:
                return t.event
        return None


def require_state(resource: Resource, row: Any, action: str, sources: tuple[str, ...]) -> None:
    """Refuse ``action`` (a transition, or an action such as ``reschedule``) on ``row`` unless
    its state is one of ``sources``: 409 ``invalid_transition``, naming the current state and
    the transitions allowed from it."""
    lifecycle = resource.lifecycle
    assert lifecycle is not None, f"{resource.name} declares no lifecycle"
    current = lifecycle.state(row)
    if current in sources:
        return
    allowed = lifecycle.allowed_from(current)
    raise Conflict(
        f"Cannot {action.replace('_', ' ')} a {resource.name.replace('_', ' ')} that is "
        f"{current.replace('_', ' ')}; from {current}: {', '.join(allowed) or 'no transition'}.",
        reason="invalid_transition",
        state=current,
        allowed_transitions=allowed,
    )


def require_action_state(resource: Resource, row: Any, action: str) -> None:
    """Refuse ``action`` (not a transition) from a state its ``Resource.action_sources`` does
    not list, as ``require_state``; an action without sources may start from any."""
    sources = resource.action_sources.get(action)
    if sources is not None:
        require_state(resource, row, action, sources)


async def transition(
    uow: UnitOfWork,
    resource: Resource,
    name: str,
    public_id: str,
    snapshot: Snapshot,
    *,
    given: dict[str, Any] | None = None,
    snapshots: Snapshots | None = None,
) -> Any:
    """Apply the transition ``name`` of the resource's lifecycle to its row ``public_id``
    (404 as ``crud.get``), or refuse it (409) from a state it does not start from. ``given``:
    its input (Python names), if it takes one; ``snapshots``: other resources' payloads, for
    a lifecycle whose ``then`` writes them."""
    lifecycle = resource.lifecycle
    assert lifecycle is not None, f"{resource.name} declares no lifecycle"
    step = lifecycle.named(name)
    values = validate(step.input, given or {}) if step.input is not None else None
    row = await crud.get(uow, resource, public_id)
    require_state(resource, row, step.name, step.sources)
    entering = Entering(step.target, utcnow(), values, uow.principal, row)
    written = await crud.update(
        uow,
        resource,
        row,
        lifecycle.columns(entering),
        snapshot,
        verb=step.event,
        public_fields=dict(lifecycle.public_fields),
    )
    if lifecycle.then is not None:
        assert snapshots is not None, f"{resource.name}: its lifecycle writes other resources"
        await lifecycle.then(uow, written, entering, snapshots)
    return written
