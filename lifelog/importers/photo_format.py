"""JPEG photos: the EXIF capture time and GPS position become an entry with the photo attached."""

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, UnidentifiedImageError

from lifelog.choices import TimePrecision

from .base import ImportFailed, ImportIssue, ParsedEntry
from .fields import MAX_TITLE

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
TAG_DATETIME = 306
TAG_DATETIME_ORIGINAL = 36867
TAG_OFFSET_TIME_ORIGINAL = 36881
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4


def parse_photo(data: bytes, *, filename: str, tz: ZoneInfo) -> list[ParsedEntry]:
    if not data:
        raise ImportFailed([ImportIssue(filename, "the file is empty")])
    try:
        image = Image.open(io.BytesIO(data))
        image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ImportFailed([ImportIssue(filename, "not a readable image")]) from None
    if image.format != "JPEG":
        raise ImportFailed([ImportIssue(filename, f"a {image.format} image; only JPEG photos are imported")])
    exif = Image.open(io.BytesIO(data)).getexif()
    when = _capture_time(exif, tz)
    if when is None:
        raise ImportFailed(
            [ImportIssue(filename, "the photo has no EXIF capture time; add it to a JSON entry instead", field="EXIF")]
        )
    lat, lon = _gps(exif)
    title = Path(filename).stem.replace("_", " ").replace("-", " ").strip() or "Photo"
    return [
        ParsedEntry(
            occurred_at=when,
            time_precision=TimePrecision.EXACT,
            title=title[:MAX_TITLE],
            latitude=lat,
            longitude=lon,
            tags=["photo"],
            photo_bytes=without_location(data),
            photo_name=Path(filename).name,
        )
    ]


def _capture_time(exif: Image.Exif, tz: ZoneInfo) -> datetime | None:
    sub = exif.get_ifd(EXIF_IFD)
    stamp = sub.get(TAG_DATETIME_ORIGINAL) or exif.get(TAG_DATETIME)
    if not stamp:
        return None
    try:
        when = datetime.strptime(str(stamp).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = sub.get(TAG_OFFSET_TIME_ORIGINAL)
    if offset and len(str(offset)) >= 6:
        sign = -1 if str(offset)[0] == "-" else 1
        hours, minutes = int(str(offset)[1:3]), int(str(offset)[4:6])
        return when.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    return when.replace(tzinfo=tz)


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    gps = exif.get_ifd(GPS_IFD)
    try:
        lat = _degrees(gps[GPS_LAT], gps.get(GPS_LAT_REF, "N"), "S")
        lon = _degrees(gps[GPS_LON], gps.get(GPS_LON_REF, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def _degrees(dms: tuple, ref: str, negative_ref: str) -> float:
    degrees, minutes, seconds = (float(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if str(ref).strip("\x00").upper() == negative_ref else value


def without_location(data: bytes) -> bytes:
    """The copy that pages show: the same JPEG without its EXIF GPS block or XMP packet (which can repeat the
    position). The entry keeps latitude and longitude for researchers; the picture file does not carry them."""
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    if GPS_IFD not in exif and "xmp" not in image.info:
        return data
    exif.pop(GPS_IFD, None)
    out = io.BytesIO()
    # quality="keep" reuses the original quantization tables, so the picture does not degrade.
    image.save(out, "JPEG", exif=exif.tobytes(), quality="keep", icc_profile=image.info.get("icc_profile"))
    return out.getvalue()
