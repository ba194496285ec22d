"""Parsing the four time formats the sources use, and human formatting. Pure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

UTC = timezone.utc

_TRANSCRIPT_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$"
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_iso(value) -> datetime | None:
    """ISO-8601 with Z or an offset (the OAuth API's format); None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_epoch_seconds(value) -> datetime | None:
    """The status line's resets_at (epoch seconds). Also tolerates ISO strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_iso(value)


def transcript_ms(value) -> int | None:
    """Transcript timestamps: exactly YYYY-MM-DDTHH:MM:SS[.mmm](Z|±HH:MM), as ccusage
    accepts them; anything else (microseconds, no zone) is rejected."""
    if not isinstance(value, str):
        return None
    m = _TRANSCRIPT_TS.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    ms = int((frac[1:] + "00")[:3]) if frac else 0
    if zone == "Z":
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tz)
    except ValueError:
        return None
    return int(dt.timestamp()) * 1000 + ms


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


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
