"""Real GeoTIFFs for the survey tests, written with rasterio in any CRS around a lon/lat centre."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

VENUE = (121.2975, 31.191)  # the middle of the venue (inside both test areas of interest)


def write_geotiff(
    path: Path,
    *,
    crs: str | None = "EPSG:4549",
    centre: tuple[float, float] = VENUE,
    size: int = 512,
    res: float = 0.5,
    bands: int = 3,
    dtype: str = "uint8",
    nodata: float | None = None,
    seed: int = 1,
    georeferenced: bool = True,
    compress: str | None = None,
) -> Path:
    """A size×size raster centred on `centre`, `res` CRS units a pixel; RGB texture for uint8, an
    NDVI-like field from -0.2 to 0.9 for floats."""
    rng = np.random.default_rng(seed)
    if dtype == "uint8":
        data = rng.integers(20, 236, (bands, size, size), dtype=np.uint8)
    else:
        ramp = np.linspace(-0.2, 0.9, size, dtype=np.float32)[None, None, :]
        data = (ramp + rng.normal(0, 0.02, (bands, size, size))).astype(dtype)
    profile: dict = dict(
        driver="GTiff", width=size, height=size, count=bands, dtype=dtype, tiled=True, blockxsize=256, blockysize=256
    )
    if georeferenced and crs is not None:
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*centre)
        profile |= {"crs": crs, "transform": from_origin(x - size / 2 * res, y + size / 2 * res, res, res)}
    if nodata is not None:
        profile["nodata"] = nodata
    if compress is not None:
        profile["compress"] = compress
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def damaged_inside(path: Path, **kwargs: Any) -> Path:
    """A deflated, tiled GeoTIFF whose header, first and last tiles read but a tile in its middle
    does not (bytes overwritten half way through the file, as a bad sector or a broken copy does);
    `kwargs` as write_geotiff's."""
    write_geotiff(path, size=1024, compress="deflate", **kwargs)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle - 2000 : middle + 2000] = b"U" * 4000
    path.write_bytes(bytes(data))
    return path


def jpeg_named_tif(path: Path) -> Path:
    """A plain JPEG photo (no georeference) saved under a .tif name."""
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy

    rng = np.random.default_rng(3)
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=64, height=64, count=3, dtype="uint8") as d:
            d.write(rng.integers(0, 255, (3, 64, 64), dtype=np.uint8))
        with mem.open() as d:
            copy(d, str(path), driver="JPEG")
    for extra in path.parent.glob(path.name + ".aux.xml"):
        extra.unlink()
    return path


def files_in(d: Path) -> list[str]:
    return sorted(os.listdir(d)) if d.exists() else []  # hidden temporaries included
