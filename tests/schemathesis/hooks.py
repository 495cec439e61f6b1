"""schemathesis hooks for the REST facade's fuzz run (``SCHEMATHESIS_HOOKS``): what a fuzzer
cannot know from a schema, made explicit.

- An ``Idempotency-Key`` names one request: sent again with another body it is rightly refused
  (422 ``idempotency_key_reused``). The fuzzer draws keys from a small space and reuses them
  across unrelated requests, so each valid key it sends is made unique (a fresh value); an
  invalid one (empty, blank) is sent as generated, to be refused.
- ``x-organization-id`` names the organization of the run's credential
  (``ASTERI_FUZZ_ORGANIZATION``): a generated one is another organization's, a 403. Where the
  fuzzer sends the header it gets that value; where it leaves the header out (the
  missing-header check), it stays out.
- A ``cursor`` is opaque: only a list's ``next_cursor`` is one (any other string is a 400,
  ``param: cursor``). The fuzzer does not invent them; the stateful phase follows the lists'
  ``next_cursor`` links instead.
"""

import os
import re
import uuid
from typing import Any

import schemathesis

from asteri.rest_facade.idempotency import KEY_PATTERN, MAX_KEY_LENGTH


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    for headers in (kwargs.get("headers"), case.headers):
        if not isinstance(headers, dict):
            continue
        for name, value in list(headers.items()):
            if name.lower() == "x-organization-id":
                headers[name] = os.environ["ASTERI_FUZZ_ORGANIZATION"]
            if name.lower() != "idempotency-key" or not isinstance(value, str):
                continue
            if re.search(KEY_PATTERN, value) and len(value) <= MAX_KEY_LENGTH:
                headers[name] = f"fuzz-{uuid.uuid4().hex}"


@schemathesis.hook
def map_query(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    if query and "cursor" in query:
        query = {k: v for k, v in query.items() if k != "cursor"}
    return query
