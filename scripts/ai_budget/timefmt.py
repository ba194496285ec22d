"""Parsing the four time formats the sources use, and human formatting. Pure."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

UTC = timezone.utc

_TRANSCRIPT_TS = (  # compiled (and cached by re) on first use: most runs never need it
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$"
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def _representable(when: datetime | None) -> datetime | None:
    """A time every later step can shift into any zone and format: 1970 to 9998."""
    try:
        return when if when is not None and 1970 <= when.astimezone(UTC).year <= 9998 else None
    except (OverflowError, ValueError, OSError):
        return None


def parse_iso(value) -> datetime | None:
    """ISO-8601 with Z or an offset (the OAuth API's format); None when absent, bad or out of range."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _representable(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def parse_epoch_seconds(value) -> datetime | None:
    """The status line's resets_at (epoch seconds). Also tolerates ISO strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return _representable(datetime.fromtimestamp(float(value), UTC))
        except (OverflowError, OSError, ValueError):
            return None
    return parse_iso(value)


def transcript_ms(value) -> int | None:
    """Transcript timestamps: exactly YYYY-MM-DDTHH:MM:SS[.mmm](Z|±HH:MM), as ccusage
    accepts them; anything else (microseconds, no zone) is rejected."""
    if not isinstance(value, str):
        return None
    if len(value) == 24 and value[23] == "Z" and value[19] == "." and value[16] == ":":
        # The canonical form, on every line: one parse per minute, then digits.
        base = _MINUTE_MS.get(value[:16])
        if base is None:
            base = _minute_ms(value[:16])
        rest = value[17:19] + value[20:23]
        if base is not None and rest.isascii() and rest.isdigit() and rest[0] < "6":
            return base + int(rest[:2]) * 1000 + int(rest[2:])
    return _parsed(value)


def _parsed(value: str) -> int | None:
    m = re.match(_TRANSCRIPT_TS, value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    ms = _utc_ms(y, mo, d, h, mi, s)
    if ms is None:
        return None
    ms += int((frac[1:] + "00")[:3]) if frac else 0
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        ms -= sign * (int(zone[1:3]) * 60 + int(zone[4:6])) * 60_000
    return ms


_MINUTE_MS: dict = {}  # "YYYY-MM-DDTHH:MM" → epoch ms; bounded, whatever a file holds


def _minute_ms(prefix: str) -> int | None:
    """_parsed(prefix + ":00.000Z") without the regex (the status line's sync would compile it)."""
    digits = prefix[:4] + prefix[5:7] + prefix[8:10] + prefix[11:13] + prefix[14:16]
    if not (prefix[4] == prefix[7] == "-" and prefix[10] == "T" and prefix[13] == ":"
            and digits.isascii() and digits.isdigit()):
        return None
    ms = _utc_ms(prefix[:4], prefix[5:7], prefix[8:10], prefix[11:13], prefix[14:16], "0")
    if ms is not None and len(_MINUTE_MS) < 65536:
        _MINUTE_MS[prefix] = ms
    return ms


def _utc_ms(y: str, mo: str, d: str, h: str, mi: str, s: str) -> int | None:
    """Epoch ms of a UTC date and time given as digit strings; None when it is no such time."""
    day = _day_ms(y, mo, d)
    h, mi, s = int(h), int(mi), int(s)
    if day is None or h > 23 or mi > 59 or s > 59:
        return None
    return day + ((h * 60 + mi) * 60 + s) * 1000


@functools.lru_cache(maxsize=4096)
def _day_ms(y: str, mo: str, d: str) -> int | None:
    """Epoch ms of a UTC midnight; cached because every line of a day repeats it."""
    try:
        return int(datetime(int(y), int(mo), int(d), tzinfo=UTC).timestamp()) * 1000
    except ValueError:
        return None


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


def iso_ms(value) -> int | None:
    """An ISO-8601 string as epoch milliseconds; None when absent or bad."""
    when = parse_iso(value)
    return int(when.timestamp() * 1000) if when else None


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration(seconds: float) -> str:
    """'2h 14m', '3d 4h', '45s'; negative durations are shown as 0m."""
    seconds = max(0, int(seconds))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def countdown(target: datetime | None, now: datetime) -> str:
    """'14:05 (in 2h 14m)' in local time, or 'unknown'."""
    if target is None:
        return "unknown"
    local = target.astimezone()
    delta = (target - now).total_seconds()
    fmt = "%H:%M" if abs(delta) < 20 * 3600 else "%a %d %b %H:%M"
    when = local.strftime(fmt)
    if delta >= 0:
        return f"{when} (in {duration(delta)})"
    return f"{when} ({duration(-delta)} ago)"


def age(then: datetime | None, now: datetime) -> str:
    return "never" if then is None else duration((now - then).total_seconds()) + " ago"
