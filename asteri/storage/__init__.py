"""Where file bodies live, behind one small interface (``BlobStore``).

Rows say what a file is (its owner, name, type, size); a blob store keeps its bytes under a
key the service makes itself, never one taken from a request. The embedded default is the
local disk (``local.py``); another backend (an S3-compatible bucket) is one more module here
with the same four methods, chosen by settings.
"""

from typing import Protocol

from asteri.storage.local import LocalBlobStore

__all__ = ["BlobStore", "LocalBlobStore"]


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, whole or not at all (a reader never sees half)."""

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``KeyError`` if there are none."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a key that is not there is no error."""
