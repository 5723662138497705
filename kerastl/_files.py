"""Writes that never leave a half-written file or folder where a good one was, and where a file
stops being UTF-8."""

import codecs
import os
import secrets
import shutil
from pathlib import Path


def staging_dir(parent: Path, prefix: str, suffix: str) -> Path:
    """A new empty folder `<prefix><random><suffix>` in `parent`, made with the user's umask.

    `tempfile.mkdtemp` makes its folders `drwx------` whatever the umask: renamed into place, a
    saved model or export would keep that mode, unreadable by the group a umask of 022 or 002
    lets in. `os.mkdir` applies the umask as any other folder the user makes.
    """
    for _ in range(100):
        path = Path(parent) / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no unused name for a staging folder {prefix}*{suffix} in {parent}")


def replace_dir(staging: Path, path: Path) -> None:
    """Rename the finished folder `staging` to `path`.

    An existing `path` is first renamed aside and removed only once the new folder is in place,
    so a crash leaves either the old folder or the new one at `path` (the old one, at worst,
    under a hidden `.<name>.*.old` folder beside it).
    """
    if not path.exists():
        os.replace(staging, path)
        return
    retired = staging_dir(path.parent, f".{path.name}.", ".old")
    os.replace(path, retired / "previous")
    os.replace(staging, path)
    shutil.rmtree(retired, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` beside `path`, then rename it into place."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


def utf8_error(source, chunk_size: int = 1 << 20) -> str:
    """Where `source` (a path, or bytes) first stops being UTF-8, for an error message:
    "byte 568905 (line 20002): 0xff, invalid start byte", or "" if it is UTF-8 throughout.

    The byte is the offset in the whole file from 0, as `xxd` and `hexdump` count, a byte-order
    mark included; the line counts from 1. A `UnicodeDecodeError` cannot say this: pandas
    decodes a file field by field and the `utf-8-sig` codec drops the byte-order mark, so its
    `start` counts from somewhere else.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        chunks = iter([bytes(source)])
    else:
        chunks = _chunks(source, chunk_size)
    base, line, pending = 0, 1, b""  # bytes before `pending`; `pending`: an unfinished character
    while True:
        chunk = next(chunks, None)
        data = pending + (chunk or b"")
        try:
            _, consumed = codecs.utf_8_decode(data, "strict", chunk is None)
        except UnicodeDecodeError as err:
            line += data.count(b"\n", 0, err.start)
            bad = " ".join(f"0x{b:02x}" for b in data[err.start:err.end])
            return f"byte {base + err.start} (line {line}): {bad}, {err.reason}"
        if chunk is None:
            return ""
        line += data.count(b"\n", 0, consumed)
        base += consumed
        pending = data[consumed:]


def _chunks(path, size):
    with open(path, "rb") as file:
        while chunk := file.read(size):
            yield chunk
