"""Where attachment bytes live: a content-addressed store behind a small protocol.

A file's name is its SHA-256 (``ab/cd/abcd…``), so the same content is stored once however often it is
uploaded, a name can never point at other bytes, and a reader can check what it got. ``LocalFileStore``
keeps files under one directory: each is written to a temporary file in its target directory, flushed,
fsynced and renamed into place, so a reader never sees half a file and a crash leaves at most a stray
``.tmp-*`` file. Two writers racing on one hash both write identical bytes; the last rename wins harmlessly.

Bytes are written before the database transaction commits (a caller may read them back inside it, as an
import does). A rolled-back upload therefore leaves an unreferenced file behind: harmless, since nothing
can reach it, and a sweep can remove hashes no ``attachment`` row names. Files are small (at most 20 MB,
see ``service.LIMITS``), so they are handled as ``bytes`` in memory; streaming is not worth its complexity.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_SHA256 = re.compile(r"[0-9a-f]{64}")


class FileStore(Protocol):
    async def put(self, data: bytes) -> str:
        """Store ``data`` (once per content) and return its lower-case hex SHA-256."""
        ...

    async def get(self, sha256: str) -> bytes:
        """Return the bytes stored under ``sha256``.

        Raises:
            FileNotFoundError: nothing is stored under that hash.
            ValueError: the stored bytes no longer hash to ``sha256``, or the key is malformed.
        """
        ...

    async def exists(self, sha256: str) -> bool: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalFileStore:
    """A ``FileStore`` in a local directory, ``root/ab/cd/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 key: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._get, sha256)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).is_file)

    def _put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        target = self.path_of(digest)
        with contextlib.suppress(FileNotFoundError):
            if target.stat().st_size == len(data):
                return digest  # stored already; a wrong size (damaged file) is rewritten below
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(target.parent)
        return digest

    def _get(self, sha256: str) -> bytes:
        data = self.path_of(sha256).read_bytes()
        if sha256_hex(data) != sha256:
            raise ValueError(f"stored file {sha256} does not match its hash")
        return data


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
