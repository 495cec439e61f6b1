"""Blobs as files below one directory: the embedded default.

A key is one or more segments of letters, digits, ``_`` and ``-`` joined by ``/``
(``org_1/live/file_abc``): no ``..``, no absolute path, nothing that could name a file
outside the root. Writes go to a temporary file in the same directory, flushed to disk, then
renamed over the target, so a concurrent reader sees the old bytes or the new, never a part.
"""

import os
import re
import tempfile
from pathlib import Path

__all__ = ["LocalBlobStore"]

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}(/[A-Za-z0-9_-]{1,128}){0,7}$")


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a blob key: {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):  # unreachable with the pattern; kept as a guard
            raise ValueError(f"not a blob key: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
