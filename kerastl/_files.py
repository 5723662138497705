"""Writes that never leave a half-written file or folder where a good one was."""

import os
import shutil
import tempfile
from pathlib import Path


def replace_dir(staging: Path, path: Path) -> None:
    """Rename the finished folder `staging` to `path`.

    An existing `path` is first renamed aside and removed only once the new folder is in place,
    so a crash leaves either the old folder or the new one at `path` (the old one, at worst,
    under a hidden `.<name>.*.old` folder beside it).
    """
    if not path.exists():
        os.replace(staging, path)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.replace(path, retired / "previous")
    os.replace(staging, path)
    shutil.rmtree(retired, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` beside `path`, then rename it into place."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text)
    os.replace(staging, path)
