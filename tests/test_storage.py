"""The local blob store: whole writes, reads back, clean misses, and no key that escapes."""

import threading
from pathlib import Path

import pytest

from asteri.storage import BlobStore, LocalBlobStore


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_a_blob_reads_back_and_is_replaced_whole(store: LocalBlobStore) -> None:
    typed: BlobStore = store  # the local store is a BlobStore
    typed.put("org_1/live/file_a", b"first")
    assert typed.get("org_1/live/file_a") == b"first"
    typed.put("org_1/live/file_a", b"second, longer")
    assert typed.get("org_1/live/file_a") == b"second, longer"
    assert typed.exists("org_1/live/file_a")
    assert not list(store.root.rglob(".partial-*")), "a temporary file was left behind"


def test_a_missing_blob_is_a_key_error_and_delete_is_idempotent(store: LocalBlobStore) -> None:
    with pytest.raises(KeyError):
        store.get("org_1/live/nothing")
    store.put("org_1/live/file_b", b"x")
    store.delete("org_1/live/file_b")
    store.delete("org_1/live/file_b")
    assert not store.exists("org_1/live/file_b")


@pytest.mark.parametrize(
    "key",
    ["../escape", "/etc/passwd", "a/../../b", "a//b", "", "a/./b", "a\x00b", "a\\b", "x" * 129],
)
def test_keys_that_could_name_a_file_elsewhere_are_refused(
    store: LocalBlobStore, tmp_path: Path, key: str
) -> None:
    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.delete(key)):
        with pytest.raises(ValueError, match="not a blob key"):
            call()
    assert not (tmp_path / "escape").exists()


def test_concurrent_readers_see_old_or_new_bytes_never_a_part(store: LocalBlobStore) -> None:
    old, new = b"a" * 200_000, b"b" * 300_000
    store.put("k", old)
    seen: set[bytes] = set()

    def read() -> None:
        for _ in range(50):
            seen.add(store.get("k"))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for _ in range(20):
        store.put("k", new)
        store.put("k", old)
    for reader in readers:
        reader.join()
    assert seen <= {old, new}
