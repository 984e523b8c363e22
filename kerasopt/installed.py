"""Files shipped inside installed distributions (the offline VGG weights, the photo corpus), found
without importing the package that ships them."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


def installed_file(distribution: str, relative: str, needed_for: str) -> Path:
    """The file ``relative`` inside the installed ``distribution``.

    Raises:
        FileNotFoundError: one line naming ``needed_for``: the distribution is not installed or lacks the file.
    """
    try:
        path = Path(metadata.distribution(distribution).locate_file(relative))
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(f"{needed_for} needs the package {distribution} (pip install {distribution})") \
            from None
    if not path.is_file():
        raise FileNotFoundError(f"{distribution} is installed but lacks {relative} ({needed_for}): reinstall it")
    return path
