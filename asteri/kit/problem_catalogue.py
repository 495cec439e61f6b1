"""The error catalogue: every ``code`` a problem can have and every ``reason`` it can carry,
each with the words a caller reads — what happened (``cause``) and what to do (``fix``).

``kit/errors.py`` builds the shapes from it (status, title, the ``type`` URL) and refuses to
raise a reason this catalogue does not declare under the error's code; the problem pages
(``portal/pages.py``) render it. ``tests/test_problem_catalogue.py`` scans the source for
every reason a problem can carry and holds it to this list, so a new reason is catalogued
before it ships.
"""

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "PROBLEMS",
    "PROBLEMS_PATH",
    "REASONS",
    "ErrorCode",
    "Problem",
    "Reason",
    "reasons_of",
    "slug_of",
]

# Where the problem pages live, under the public base URL (``Settings.public_url``).
PROBLEMS_PATH = "/developers/problems"


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_REQUEST = "BAD_REQUEST"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


def slug_of(code: ErrorCode) -> str:
    """``RATE_LIMITED`` → ``rate-limited``: the last segment of the problem's ``type``."""
    return code.value.lower().replace("_", "-")


@dataclass(frozen=True)
class Problem:
    """One ``code``: its HTTP status, the problem's ``title``, why it happens, what to do."""

    code: ErrorCode
    status: int
    title: str
    cause: str
    fix: str

    @property
    def slug(self) -> str:
        return slug_of(self.code)


@dataclass(frozen=True)
class Reason:
    """One ``reason``: the finer cause a problem of ``code`` names, and what to do about it."""

    name: str
    code: ErrorCode
    meaning: str
    action: str


_C = ErrorCode

PROBLEMS: dict[ErrorCode, Problem] = {
    p.code: p
    for p in (
        Problem(
            _C.UNAUTHENTICATED,
            401,
            "Credentials are invalid or expired",
            "Credentials are invalid or expired. This usually means the request is missing "
            "x-api-key, the key is inactive or expired, or bearer auth is malformed.",
            "Check the key value, expiry, and whether the request is also sending the correct "
            "x-organization-id.",
        ),
        Problem(
            _C.FORBIDDEN,
            403,
            "The caller lacks the required scope or organization",
            "The caller lacks the required scope. Preview routes enforce narrow scopes like "
            "read:customers and write:estimates.",
            "If you receive a missing-scope response, update the key in Security settings or "
            "switch to the correct organization.",
        ),
        Problem(
            _C.NOT_FOUND,
            404,
            "Resource not found",
            "No object with that id is visible to the credential. It may never have existed, "
            "have been deleted, or belong to another organization or environment: the API "
            "answers all of these the same way, so it never confirms that an id exists.",
            "Check the id, and that the key's environment (live or test) and the "
            "x-organization-id header are the ones that created the object. List the "
            "collection to find what the credential can see.",
        ),
        Problem(
            _C.BAD_REQUEST,
            400,
            "The request is malformed",
            "The request could not be understood as sent: a body that is not valid JSON, a "
            "cursor that was not issued by the API, a malformed header such as If-Match or "
            "Idempotency-Key, or a GraphQL document beyond the size bounds.",
            "Read `detail` and `reason`, correct the request and send it again. Sending the "
            "same request unchanged will fail the same way.",
        ),
        Problem(
            _C.METHOD_NOT_ALLOWED,
            405,
            "The route does not allow this method",
            "The path exists, but not with this HTTP method (a PUT where the API takes PATCH, "
            "for example).",
            "Use one of the methods the `Allow` response header lists for this path.",
        ),
        Problem(
            _C.GRAPHQL_VALIDATION_FAILED,
            400,
            "The GraphQL document is invalid",
            "The GraphQL document does not parse or does not validate against the schema: a "
            "syntax error, an unknown field or argument, a variable of the wrong type, or a "
            "document deeper or with more aliases than the server allows.",
            "Fix the document where the error's `locations` point. Introspect the schema (or "
            "open GraphiQL) to check field names and types, and split very deep or wide "
            "queries.",
        ),
        Problem(
            _C.BAD_USER_INPUT,
            422,
            "The input is invalid",
            "The request is well formed, but some of its values fail validation: a missing "
            "required field, a value out of range, an unknown field, or a reference to an "
            "object that does not exist.",
            "Each entry of `errors` names one field by a JSON pointer and says what is wrong "
            "with it. Correct those fields and send the request again.",
        ),
        Problem(
            _C.CONFLICT,
            409,
            "The request conflicts with the current state",
            "The request is valid, but the object's current state does not allow it: a "
            "duplicate unique value, a lifecycle action from a state it does not start from, "
            "a payment larger than what is due, or a request that is still running.",
            "Read the object again and look at `reason` and its companion members (`state`, "
            "`allowed_transitions`, `amount_due`…). Retrying unchanged will not help, except "
            "where the reason says so.",
        ),
        Problem(
            _C.PRECONDITION_FAILED,
            412,
            "The object changed since the version the request names",
            "The request named a version of the object (If-Match on REST, expectedVersion on "
            "GraphQL), and the object has moved on since: someone else changed it first. "
            "Nothing was written.",
            "Read the object again (`current_version` says which version it is at), decide "
            "whether your change still applies, and send it with the new version.",
        ),
        Problem(
            _C.PAYLOAD_TOO_LARGE,
            413,
            "The request body is too large",
            "The request body is larger than the API accepts (1 MB). The body was not read.",
            "Send less in one request: split a large batch into several requests.",
        ),
        Problem(
            _C.UNSUPPORTED_MEDIA_TYPE,
            415,
            "The request body is not JSON",
            "The request has a body whose Content-Type is not JSON. Every body the API takes "
            "is JSON.",
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        Problem(
            _C.RATE_LIMITED,
            429,
            "Rate limited",
            "Preview API keys can be limited per minute and per day. When you exceed that "
            "budget, the response includes a limit window and Retry-After.",
            "Honor the limit window before retrying. Back off worker concurrency, avoid blind "
            "replay loops, and only retry after the returned window has reset.",
        ),
        Problem(
            _C.INTERNAL_SERVER_ERROR,
            500,
            "Internal server error",
            "Something failed on our side while handling the request. The failure is logged "
            "with the request id; no details of it are sent.",
            "Retry after a short wait; a write sent with an Idempotency-Key is safe to retry. "
            "If it keeps failing, contact support and quote the `request_id`.",
        ),
    )
}


REASONS: dict[str, Reason] = {
    r.name: r
    for r in (
        # 401
        Reason(
            "missing_credentials",
            _C.UNAUTHENTICATED,
            "The request carries neither an `x-api-key` header nor an `Authorization: Bearer` "
            "header.",
            "Send a scoped API key in `x-api-key` (or a session token as a bearer token).",
        ),
        Reason(
            "malformed_key",
            _C.UNAUTHENTICATED,
            "The `x-api-key` value is not shaped like an Asteri key, or its checksum is wrong "
            "(usually a copy that lost or gained characters).",
            "Copy the whole secret again, exactly as it was shown when the key was created.",
        ),
        Reason(
            "invalid_key",
            _C.UNAUTHENTICATED,
            "The key is well formed, but no key with that secret exists in its environment.",
            "Check that you are using the current secret (a rotated key has a new one) and "
            "the right environment's key.",
        ),
        Reason(
            "revoked_key",
            _C.UNAUTHENTICATED,
            "The key was revoked, or the overlap after its rotation has ended.",
            "Use the key's successor, or create a new key in Security settings.",
        ),
        Reason(
            "expired_key",
            _C.UNAUTHENTICATED,
            "The key has passed its expiry.",
            "Create a new key (or rotate before expiry next time) and deploy its secret.",
        ),
        Reason(
            "malformed_bearer",
            _C.UNAUTHENTICATED,
            "The `Authorization` header is not `Bearer <token>`, or the token is not a JWT.",
            "Send `Authorization: Bearer <session token>`, with the token as it was issued.",
        ),
        Reason(
            "invalid_bearer",
            _C.UNAUTHENTICATED,
            "The bearer token was not signed by us, has the wrong algorithm or claims, or "
            "names a session that does not exist.",
            "Sign in again to get a fresh session token.",
        ),
        Reason(
            "expired_bearer",
            _C.UNAUTHENTICATED,
            "The session behind the bearer token has expired.",
            "Sign in again.",
        ),
        Reason(
            "revoked_bearer",
            _C.UNAUTHENTICATED,
            "The session behind the bearer token was signed out.",
            "Sign in again.",
        ),
        Reason(
            "missing_organization",
            _C.UNAUTHENTICATED,
            "The credential works, but the request does not name its organization.",
            "Send the organization's id in the `x-organization-id` header on every request.",
        ),
        # 403
        Reason(
            "missing_scope",
            _C.FORBIDDEN,
            "The credential is valid, but lacks the scope the operation needs; "
            "`required_scope` names it.",
            "Add that scope to the key in Security settings (or use a key that has it).",
        ),
        Reason(
            "key_manager_required",
            _C.FORBIDDEN,
            "API keys are managed only by an organization owner's or admin's session; an API "
            "key can never manage keys, whatever its scopes.",
            "Sign in as an owner or admin and manage keys with that session.",
        ),
        Reason(
            "organization_mismatch",
            _C.FORBIDDEN,
            "The credential is not valid for the organization in `x-organization-id` (the "
            "same answer whether or not that organization exists).",
            "Switch to the correct organization, or use a key issued for this one.",
        ),
        Reason(
            "persisted_operations_only",
            _C.FORBIDDEN,
            "This key may run persisted GraphQL operations only, and the request sent a "
            "free-text document.",
            "Send the operation by its sha256 hash, or use a key without `persistedOnly`.",
        ),
        # 400
        Reason(
            "invalid_precondition",
            _C.BAD_REQUEST,
            "`If-Match` or `If-None-Match` is not `*` or a list of entity tags.",
            'Send the `ETag` the object was read with, quoted as it was given (`"3"`).',
        ),
        Reason(
            "persisted_operation_not_found",
            _C.BAD_REQUEST,
            "No persisted operation has the sha256 hash the request sent.",
            "Check the hash, or send the document itself in `query`.",
        ),
        Reason(
            "invalid_idempotency_key",
            _C.BAD_REQUEST,
            "`Idempotency-Key` is empty, repeated or longer than the API accepts.",
            "Send one key per request: a fresh UUID is a good choice.",
        ),
        Reason(
            "idempotency_key_not_applicable",
            _C.BAD_REQUEST,
            "`Idempotency-Key` was sent with a GraphQL request it cannot protect: a query, a "
            "batch, a GET, a stream, or a document with other than one mutation field.",
            "Send the key only with a POST that runs exactly one mutation.",
        ),
        Reason(
            "document_too_large",
            _C.BAD_REQUEST,
            "The GraphQL document has more bytes than the server parses (`limit`).",
            "Send a smaller document, or use a persisted operation.",
        ),
        Reason(
            "too_many_tokens",
            _C.BAD_REQUEST,
            "The GraphQL document has more tokens than the parser reads (`limit`).",
            "Send a smaller document, or use a persisted operation.",
        ),
        Reason(
            "too_many_fragments",
            _C.BAD_REQUEST,
            "The GraphQL document defines more fragments than the server validates (`limit`).",
            "Inline or merge fragments, or split the document.",
        ),
        Reason(
            "too_many_selections",
            _C.BAD_REQUEST,
            "The GraphQL document has more selections than the server validates (`limit`).",
            "Ask for fewer fields, or split the document.",
        ),
        Reason(
            "empty_selection",
            _C.BAD_REQUEST,
            "A selection set in the document selects nothing (`{ }`).",
            "Select at least one field in every selection set.",
        ),
        Reason(
            "fragment_cycle",
            _C.BAD_REQUEST,
            "A fragment spreads itself, directly or through other fragments (`fragment`).",
            "Break the cycle: a fragment may not include itself.",
        ),
        Reason(
            "too_many_expansions",
            _C.BAD_REQUEST,
            "With every fragment spread expanded, the document has more selections than the "
            "server allows (`limit`, `expansions`).",
            "Spread fragments fewer times, or split the document.",
        ),
        Reason(
            "too_many_same_name",
            _C.BAD_REQUEST,
            "Too many fields answer under one name in one selection set (`limit`, `fields`).",
            "Give the repeated fields distinct aliases.",
        ),
        Reason(
            "operation_name_required",
            _C.BAD_REQUEST,
            "The document has several operations and the request does not say which to run.",
            "Name the operation to run in `operationName`.",
        ),
        Reason(
            "query_too_costly",
            _C.BAD_REQUEST,
            "The document could return more objects than the server allows (`limit`, `cost`).",
            "Ask for fewer with smaller `first` arguments, or split the document.",
        ),
        # 422
        Reason(
            "idempotency_key_reused",
            _C.BAD_USER_INPUT,
            "This `Idempotency-Key` was already used with a different body or path.",
            "Send a new key for a new request; reuse a key only to retry the same request.",
        ),
        # 409
        Reason(
            "invalid_transition",
            _C.CONFLICT,
            "The lifecycle action does not start from the object's current state (`state`).",
            "Read the object again; `allowed_transitions` lists what it can do from here.",
        ),
        Reason(
            "concurrent_write",
            _C.CONFLICT,
            "Another request changed the object while this one was changing it.",
            "Send the request again; it will see the other change.",
        ),
        Reason(
            "schedule_conflict",
            _C.CONFLICT,
            "A team member is already booked on another appointment that overlaps this window "
            "(`conflicting_appointment_id`, `team_member_id`).",
            "Pick another window or another team member, or move the other appointment.",
        ),
        Reason(
            "already_converted",
            _C.CONFLICT,
            "The estimate was converted to an invoice already (`invoice_id`, when known).",
            "Use the existing invoice rather than converting again.",
        ),
        Reason(
            "has_payments",
            _C.CONFLICT,
            "The invoice has payments that succeeded, so it cannot be voided.",
            "Refund its payments first, or mark it uncollectible instead.",
        ),
        Reason(
            "invoice_not_payable",
            _C.CONFLICT,
            "The invoice takes no payment in its state (`state`): a draft is not finalized "
            "yet, and a void invoice is owed nothing.",
            "Finalize a draft invoice before recording payments against it.",
        ),
        Reason(
            "exceeds_amount_due",
            _C.CONFLICT,
            "The payment would collect more than the invoice still has due, pending payments "
            "included (`amount_due`).",
            "Record at most `amount_due`, or settle pending payments first.",
        ),
        Reason(
            "exceeds_refundable",
            _C.CONFLICT,
            "The refund is larger than what is left to refund on the payment (`refundable`).",
            "Refund at most `refundable`.",
        ),
        Reason(
            "key_revoked",
            _C.CONFLICT,
            "The API key is revoked, so it cannot be rotated.",
            "Create a new key instead.",
        ),
        Reason(
            "key_already_rotated",
            _C.CONFLICT,
            "The API key was rotated already and is in its overlap; it stops working soon.",
            "Rotate its successor instead.",
        ),
        Reason(
            "key_expired",
            _C.CONFLICT,
            "The API key has expired, so it cannot be rotated.",
            "Create a new key instead.",
        ),
        Reason(
            "idempotency_key_in_flight",
            _C.CONFLICT,
            "A request with this `Idempotency-Key` is still being processed.",
            "Retry shortly with the same key: you will get the first request's answer.",
        ),
        Reason(
            "secret_not_replayed",
            _C.CONFLICT,
            "The request already succeeded, and its answer carried a secret that is shown once "
            "and never stored, so it cannot be replayed (`resource_id` names what was made).",
            "Find the created object by `resource_id`; rotate it if the secret was lost.",
        ),
        # 412
        Reason(
            "version_mismatch",
            _C.PRECONDITION_FAILED,
            "The object is at another version than the request named (`current_version`).",
            "Read the object again, then decide whether to send the change with that version.",
        ),
        # 429
        Reason(
            "auth_failures",
            _C.RATE_LIMITED,
            "This client address failed authentication too many times this minute, so its "
            "failures are no longer told apart.",
            "Fix the credential before retrying; wait `retry_after` seconds.",
        ),
        Reason(
            "anonymous_documents",
            _C.RATE_LIMITED,
            "This client address sent too many GraphQL documents without a credential this minute.",
            "Send an API key with your requests; wait `retry_after` seconds.",
        ),
        Reason(
            "search_requests",
            _C.RATE_LIMITED,
            "This client address searched the developer docs too often this minute.",
            "Search less often (debounce as-you-type queries); wait `retry_after` seconds.",
        ),
    )
}


def reasons_of(code: ErrorCode) -> list[Reason]:
    """The reasons a problem of ``code`` may carry, in catalogue order."""
    return [r for r in REASONS.values() if r.code is code]
