"""Writes that never leave a half-written file or folder where a good one was."""

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
