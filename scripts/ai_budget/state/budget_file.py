"""budget.json: the committed state. Load validates and migrates; writes are locked
and atomic; unknown keys are preserved; a malformed file is never overwritten."""

from __future__ import annotations

import os

from ..atomic import dump_json, locked, read_json_file, write_atomic
from ..errors import BudgetError
from ..sources.readings import MAX_PCT

SCHEMA_VERSION = 5

DEFAULT_TASK_TYPES = {
    "flashcard": "per card",
    "circuit_diagram": "per diagram",
    "migration": "per migration",
    "feature": "per feature",
    "css_component": "per component",
    "refactor": "per file",
}

COPILOT_UNITS = ("credits", "premium_requests")


def empty_calibration(unit: str) -> dict:
    return {
        "unit": unit,
        "samples": 0,
        "token_samples": 0,
        "units_total": 0,
        "pct_total": 0.0,
        "token_units_total": 0,
        "output_tokens_total": 0,
        "pct_sq_total": 0.0,  # Σ pct²/units: the spread (analysis/calibration.py)
        "tokens_sq_total": 0.0,
        "avg_5h_pct": None,
        "avg_output_tokens": None,
        "sd_5h_pct": None,
        "sd_output_tokens": None,
    }


def default_budget() -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "claude": {
            "plan": "pro",
            "rate_limit_tier": None,
            "five_hour": {"util": None, "resets_at": None},
            "seven_day": {"util": None, "resets_at": None},
            "five_hour_ends": [],
            "scoped_weekly": [],
            "extra_usage": None,
            "source": None,
            "last_fetched": None,
        },
        "copilot": {
            "plan": "pro",
            "unit": "credits",
            "used": None,
            "limit": 1500,
            "resets_at": None,
            "last_updated": None,
        },
        "gemini": {
            "plan": "api",
            "status": "billing_pending",
            "used": None,
            "limit": None,
            "unit": "requests",
            "last_updated": None,
        },
        "calibration": {name: empty_calibration(unit) for name, unit in DEFAULT_TASK_TYPES.items()},
        "alerts": {"warn_at": 70, "critical_at": 90, "block_at": None},
        "pricing_overrides": {},
        # Spend limits per local calendar period (analysis/limits.py); None: not set.
        "limits": {"daily": None, "weekly": None, "monthly": None, "unit": "usd", "warn_at": 80, "critical_at": 95},
        # Days of per-response rows the index keeps (state/index.prune); None: everything.
        "retention": {"days": None},
    }


# ---------------------------------------------------------------- migration

def _migrate_v1(data: dict) -> dict:
    """The plan's original shape: Copilot premium-request keys, mean-of-means calibration."""
    copilot = data.get("copilot")
    if isinstance(copilot, dict) and "unit" not in copilot:
        if "premium_requests_used" in copilot or "premium_requests_limit" in copilot:
            copilot["unit"] = "premium_requests"
            copilot["used"] = copilot.pop("premium_requests_used", None)
            copilot["limit"] = copilot.pop("premium_requests_limit", None)
    calibration = data.get("calibration")
    if isinstance(calibration, dict):
        for entry in calibration.values():
            if not isinstance(entry, dict) or "units_total" in entry:
                continue
            samples = entry.get("samples") or 0
            avg = entry.get("avg_5h_pct")
            tokens = entry.get("avg_output_tokens")
            # v1 kept only a mean of per-sample means; weight each old sample as one unit.
            entry["units_total"] = samples if avg is not None else 0
            entry["pct_total"] = float(avg) * samples if avg is not None else 0.0
            entry["token_units_total"] = samples if tokens is not None else 0
            entry["output_tokens_total"] = int(tokens) * samples if tokens is not None else 0
    data["schema_version"] = 2
    return data


def _migrate_v2(data: dict) -> dict:
    """v2 counted a tokens-only sample in `samples` too. How many were tokens-only is
    not in budget.json, but every %-sample added at least one unit to units_total
    (and every token sample to token_units_total), so each total bounds its count.
    `calibrate --rebuild` recounts exactly from the session logs."""
    for entry in (data.get("calibration") or {}).values():
        if isinstance(entry, dict) and "token_samples" not in entry:
            samples = entry.get("samples") or 0
            entry["token_samples"] = min(samples, int(entry.get("token_units_total") or 0))
            entry["samples"] = min(samples, int(entry.get("units_total") or 0))
    data["schema_version"] = 3
    return data


def _migrate_v3(data: dict) -> dict:
    """v3 stored each window flat (`five_hour_util`, `five_hour_resets_at`); v4 nests it
    as a reading holds it, and starts the list of observed 5-hour ends with its reset."""
    claude = data.get("claude")
    if isinstance(claude, dict):
        for key in ("five_hour", "seven_day"):
            if not isinstance(claude.get(key), dict):
                claude[key] = {"util": claude.pop(f"{key}_util", None), "resets_at": claude.pop(f"{key}_resets_at", None)}
        if "five_hour_ends" not in claude:
            end = claude["five_hour"]["resets_at"]
            claude["five_hour_ends"] = [end] if isinstance(end, str) else []
    data["schema_version"] = 4
    return data


def _unknown_spread(entry: dict) -> None:
    """Totals kept without their squares cannot give a spread: unknown (None) where
    samples exist, until `calibrate --rebuild` recomputes it from the session logs."""
    for sq, n in (("pct_sq_total", "samples"), ("tokens_sq_total", "token_samples")):
        if sq not in entry:
            entry[sq] = None if entry.get(n) else 0.0


def _migrate_v4(data: dict) -> dict:
    """v5 keeps each task type's sum of squares, so estimates carry a spread."""
    for entry in (data.get("calibration") or {}).values():
        if isinstance(entry, dict):
            _unknown_spread(entry)
    data["schema_version"] = 5
    return data


MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2, 3: _migrate_v3, 4: _migrate_v4}


def migrate(data: dict) -> dict:
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise BudgetError(f"budget.json: field 'schema_version' must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise BudgetError(
            f"budget.json: schema_version {version} is newer than this ai-budget understands "
            f"({SCHEMA_VERSION}); update the scripts"
        )
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data


def _clone(value):
    """A deep copy of JSON data (what copy.deepcopy did, without loading copy and weakref)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def fill_defaults(data: dict) -> dict:
    """Add sections and keys this version knows and the file lacks; keep everything else."""
    defaults = default_budget()
    for section, value in defaults.items():
        if section == "calibration":
            data.setdefault("calibration", _clone(value))
            continue
        if section not in data:
            data[section] = _clone(value)
        elif isinstance(value, dict) and isinstance(data[section], dict):
            for key, inner in value.items():
                data[section].setdefault(key, _clone(inner))
    for name, entry in data["calibration"].items():
        if isinstance(entry, dict):
            _unknown_spread(entry)
            for key, inner in empty_calibration(entry.get("unit", "per unit")).items():
                entry.setdefault(key, inner)
    return data


# ---------------------------------------------------------------- validation

SECTIONS = ("claude", "copilot", "gemini", "calibration", "alerts", "pricing_overrides", "limits", "retention")
LIMIT_UNITS = ("usd", "tokens")
# At least this month's and this week's days: the limits and `usage` read whole responses from the index.
MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 35, 36_500
MAX_NUMBER = 1e15  # counts, totals and prices: far above any real one, and exact as a float
PRICE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read", "fast_multiplier")


def parse_count(value: str | None, flag: str) -> float | None:
    """A count or balance given on the command line, as budget.json stores it."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise BudgetError(f"{flag}: must be a number, got {value!r}") from None
    if number != number or number < 0 or number in (float("inf"),):
        raise BudgetError(f"{flag}: must be a number ≥ 0, got {value!r}")
    return int(number) if number.is_integer() else number


def _bad(field: str, what: str, value) -> BudgetError:
    return BudgetError(f"budget.json: field '{field}' must be {what}, got {repr(value)[:40]}")


def _number(value, field: str, maximum: float = MAX_NUMBER, allow_none: bool = True):
    """A number in [0, maximum]. Compared before any float(): an integer past float
    range must be refused, not overflow."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= maximum:
        raise _bad(field, f"a number from 0 to {maximum:g}", value)  # NaN fails the range too


def _count(value, field: str):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise _bad(field, "a whole number ≥ 0", value)


def _text(value, field: str, allow_none: bool = True):
    if not (isinstance(value, str) or (value is None and allow_none)):
        raise _bad(field, "a string" + (" or null" if allow_none else ""), value)


def _object(value, field: str, allow_none: bool = False) -> dict:
    if not (isinstance(value, dict) or (value is None and allow_none)):
        raise _bad(field, "an object" + (" or null" if allow_none else ""), value)
    return value or {}


def check_shape(data) -> None:
    """Enough structure for migration and defaults to work on."""
    if not isinstance(data, dict):
        raise BudgetError("budget.json: top level must be a JSON object")
    for section in SECTIONS:
        if section in data and not isinstance(data[section], dict):
            raise BudgetError(f"budget.json: field '{section}' must be an object")


def _validate_claude(claude: dict) -> None:
    for key in ("five_hour", "seven_day"):
        window = _object(claude.get(key), f"claude.{key}")
        _number(window.get("util"), f"claude.{key}.util", MAX_PCT)
        _text(window.get("resets_at"), f"claude.{key}.resets_at")
    ends = claude.get("five_hour_ends")
    if not isinstance(ends, list):  # its length is bounded where it is written (utilisation.note_end)
        raise _bad("claude.five_hour_ends", "a list", ends)
    for i, end in enumerate(ends):
        _text(end, f"claude.five_hour_ends[{i}]", allow_none=False)
    for key in ("plan", "rate_limit_tier", "source", "binding", "last_fetched"):
        _text(claude.get(key), f"claude.{key}")
    scoped = claude.get("scoped_weekly")
    if not isinstance(scoped, list):
        raise _bad("claude.scoped_weekly", "a list", scoped)
    for i, entry in enumerate(scoped):
        where = f"claude.scoped_weekly[{i}]"
        _object(entry, where)
        _text(entry.get("model"), f"{where}.model", allow_none=False)
        _number(entry.get("util"), f"{where}.util", MAX_PCT)
        _text(entry.get("resets_at"), f"{where}.resets_at")
        if not isinstance(entry.get("active", False), bool):
            raise _bad(f"{where}.active", "true or false", entry["active"])
    extra = _object(claude.get("extra_usage"), "claude.extra_usage", allow_none=True)
    if not isinstance(extra.get("enabled", False), bool):
        raise _bad("claude.extra_usage.enabled", "true or false", extra["enabled"])
    for key in ("used_usd", "limit_usd"):
        _number(extra.get(key), f"claude.extra_usage.{key}")
    _number(extra.get("utilization"), "claude.extra_usage.utilization", MAX_PCT)
    _text(extra.get("currency"), "claude.extra_usage.currency")


def _validate_prices(overrides: dict) -> None:
    for model, spec in overrides.items():
        where = f"pricing_overrides.{model}"
        _object(spec, where)
        for key in PRICE_KEYS:
            _number(spec.get(key), f"{where}.{key}", allow_none=key not in ("input", "output"))
        for tier in ("fast", "long_context"):
            for key, value in _object(spec.get(tier), f"{where}.{tier}", allow_none=True).items():
                _number(value, f"{where}.{tier}.{key}", allow_none=False)


def validate(data) -> dict:
    """Every field this version reads, by type and range, after migration and
    defaults (so a null is told from a missing key); unknown keys are left alone."""
    check_shape(data)
    _validate_claude(data["claude"])
    copilot = data["copilot"]
    if copilot.get("unit") not in COPILOT_UNITS:
        raise _bad("copilot.unit", f"one of {', '.join(COPILOT_UNITS)}", copilot.get("unit"))
    gemini = data["gemini"]
    for section, name in ((copilot, "copilot"), (gemini, "gemini")):
        for key in ("used", "limit"):
            _number(section.get(key), f"{name}.{key}")
        for key in ("plan", "resets_at", "last_updated", "status", "unit"):
            _text(section.get(key), f"{name}.{key}")
    for name, entry in data["calibration"].items():
        where = f"calibration.{name}"
        _object(entry, where)
        _text(entry.get("unit"), f"{where}.unit", allow_none=False)
        for key in ("samples", "token_samples", "units_total", "token_units_total"):
            _count(entry.get(key), f"{where}.{key}")
        for key in ("pct_total", "output_tokens_total", "avg_5h_pct", "avg_output_tokens", "sd_5h_pct", "sd_output_tokens"):
            _number(entry.get(key), f"{where}.{key}", allow_none=key.startswith(("avg", "sd")))
        for key in ("pct_sq_total", "tokens_sq_total"):  # squares of counts bounded by MAX_NUMBER
            _number(entry.get(key), f"{where}.{key}", MAX_NUMBER ** 2)
    alerts = data["alerts"]
    for key in ("warn_at", "critical_at", "block_at"):
        _number(alerts.get(key), f"alerts.{key}", MAX_PCT, allow_none=key == "block_at")
    _validate_prices(data["pricing_overrides"])
    _validate_limits(data["limits"])
    days = data["retention"].get("days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS):
        raise _bad("retention.days", f"a whole number of days from {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} or null",
                   days)
    return data


def _validate_limits(limits: dict) -> None:
    if limits.get("unit") not in LIMIT_UNITS:
        raise _bad("limits.unit", f"one of {', '.join(LIMIT_UNITS)}", limits.get("unit"))
    for key in ("daily", "weekly", "monthly"):
        value = limits.get(key)
        _number(value, f"limits.{key}")
        if value == 0:
            raise _bad(f"limits.{key}", "a number above 0 or null", value)
    for key in ("warn_at", "critical_at"):
        _number(limits.get(key), f"limits.{key}", 100, allow_none=False)
    if not 0 < limits["warn_at"] < limits["critical_at"] <= 100:
        raise _bad("limits.warn_at", f"above 0 and below limits.critical_at ({limits['critical_at']!r})", limits["warn_at"])


# ---------------------------------------------------------------- load / update

def load(path) -> dict:
    """The current state; the template when the file does not exist yet (path: str or Path)."""
    if not os.path.exists(path):
        return default_budget()
    try:
        data = read_json_file(path, "budget.json")
    except ValueError:  # past Python's 4,300-digit limit for integers
        raise BudgetError("budget.json: a number has more than 4,300 digits; left untouched") from None
    check_shape(data)
    original = _clone(data)
    try:
        data = migrate(data)
    except (TypeError, ValueError, OverflowError):
        validate(fill_defaults(original))  # names the field at fault
        raise BudgetError("budget.json: an old-schema value cannot be migrated; left untouched") from None
    return validate(fill_defaults(data))


class update:  # noqa: N801 - used as a function: `with budget_file.update(path) as data:`
    """Read-modify-write under an exclusive lock; the write happens only if the
    block finishes without raising, and is atomic."""

    def __init__(self, path):
        self.path, self.lock = path, locked(path)

    def __enter__(self) -> dict:
        self.lock.__enter__()
        try:
            self.data = load(self.path)
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        return self.data

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                validate(self.data)
                write_atomic(self.path, dump_json(self.data))
        finally:
            self.lock.__exit__(None, None, None)
        return False


def save_new(path, data: dict) -> None:
    with locked(path):
        write_atomic(path, dump_json(data))
