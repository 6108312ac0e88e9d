"""Files known by their content: SHA-256 digests, remembered per file state so each file is read once.

Reruns follow content, not timestamps: an image edited in place to the same size (and given its
old modification time back with ``touch -r``) is a new image, and a shard copied or touched
without a change is the same shard. Hashing a file costs a full read, so ``DigestCache`` keeps
each digest with the file's state when it was read: size, modification time, inode change time
(``ctime``, which every write, ``touch -r`` included, moves and no user command can set back)
and inode. A file whose state is unchanged is not read again; any change, even one that restores
the modification time, makes it read again.

No torch, no h5py: the workflow's parse uses this for the user's images and the study's shards.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def file_state(st: os.stat_result) -> list[int]:
    """What identifies one version of a file without reading it (see the module docstring)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class DigestCache:
    """File digests remembered by file state, kept in one JSON file (``path``; None: in memory only).

    ``digest(file)`` reads the file only when its state changed since it was last read. ``save``
    writes the cache atomically; concurrent writers (several workflow parses at once) may drop
    each other's entries, which costs a second read, never a wrong digest.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self._entries: dict[str, list] = {}
        self._changed = False
        if self.path is not None:
            try:
                self._entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._entries = {}

    def digest(self, file: str | os.PathLike) -> str:
        """The SHA-256 of ``file``; ``OSError`` if it cannot be read."""
        key = os.path.abspath(file)
        state = file_state(os.stat(file))
        entry = self._entries.get(key)
        if entry is not None and entry[:-1] == state:
            return entry[-1]
        digest = file_sha256(file)
        self._entries[key] = [*state, digest]
        self._changed = True
        return digest

    def save(self) -> None:
        """Write the cache if it learned anything (atomically; errors ignored: it is only a cache)."""
        if self.path is None or not self._changed:
            return
        from srloss.atomic import write_text

        try:
            write_text(self.path, json.dumps(self._entries, sort_keys=True))
            self._changed = False
        except OSError:
            pass
