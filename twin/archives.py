"""Zip files read from outside (an .xlsx workbook, a zipped Shapefile), checked before anything
unpacks them.

A zip member can unpack to about a thousand times its compressed size: a 1.5 MB upload whose
sheet unpacked to 1.5 GB took minutes and gigabytes before it was refused. The sizes a zip
declares for its members (its central directory) are read without unpacking anything, and they
bind: Python's zipfile stops a member at its declared size (a member that unpacks to more fails
its CRC check), and GDAL's /vsizip/ reads the same directory. So a zip is refused on its declared
sizes alone: over the limit per member or in all, or, where a ratio is given, a member that
unpacks to far more than a real file of its kind does.
"""

from __future__ import annotations

import zipfile

from twin.errors import TooLarge

# A member smaller than this is not held to the ratio: a small one cannot cost much, and small
# members (an empty sheet's styles, a header alone) compress the most.
RATIO_FROM = 10 * 1024 * 1024


def check_zip_sizes(
    z: zipfile.ZipFile,
    source: str,
    *,
    max_mb: int,
    setting: str,
    max_ratio: float | None = None,
) -> None:
    """Raise TooLarge when the zip's members would unpack to more than ``max_mb`` MB (one member or
    all together), or when one over RATIO_FROM would unpack to more than ``max_ratio`` times its
    compressed size. ``setting`` names the environment variable of the limit, for the message."""
    limit = max_mb * 1024 * 1024
    total = 0
    for info in z.infolist():
        size = info.file_size
        total += size
        if size > limit or total > limit:
            what = f"its member {info.filename!r}" if size > limit else "its members"
            raise TooLarge(
                f"{source}: {what} would unpack to more than the limit of {max_mb:,} MB ({setting}); nothing was read"
            )
        if max_ratio is not None and size > RATIO_FROM and size > max_ratio * max(info.compress_size, 1):
            ratio = size / max(info.compress_size, 1)
            raise TooLarge(
                f"{source}: its member {info.filename!r} would unpack to {size:,} bytes from {info.compress_size:,} "
                f"({ratio:,.0f} times; a real file is under {max_ratio:g}), as a zip bomb does; nothing was read"
            )
