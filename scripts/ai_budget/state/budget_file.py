"""budget.json: the committed state. Load validates and migrates; writes are locked
and atomic; unknown keys are preserved; a malformed file is never overwritten."""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path

from ..errors import BudgetError
from .atomic import dump_json, locked, read_json_file, write_atomic

SCHEMA_VERSION = 3

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
        "avg_5h_pct": None,
        "avg_output_tokens": None,
    }


def default_budget() -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "claude": {
            "plan": "pro",
            "rate_limit_tier": None,
            "five_hour_util": None,
            "five_hour_resets_at": None,
            "seven_day_util": None,
            "seven_day_resets_at": None,
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


MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2}


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


def fill_defaults(data: dict) -> dict:
    """Add sections and keys this version knows and the file lacks; keep everything else."""
    defaults = default_budget()
    for section, value in defaults.items():
        if section == "calibration":
            data.setdefault("calibration", copy.deepcopy(value))
            continue
        if section not in data:
            data[section] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(data[section], dict):
            for key, inner in value.items():
                data[section].setdefault(key, copy.deepcopy(inner))
    for name, entry in data["calibration"].items():
        if isinstance(entry, dict):
            for key, inner in empty_calibration(entry.get("unit", "per unit")).items():
                entry.setdefault(key, inner)
    return data


# ---------------------------------------------------------------- validation

def _number(value, field: str, minimum: float | None = 0, allow_none: bool = True):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BudgetError(f"budget.json: field '{field}' must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise BudgetError(f"budget.json: field '{field}' must be ≥ {minimum}, got {value!r}")


def validate(data) -> dict:
    if not isinstance(data, dict):
        raise BudgetError("budget.json: top level must be a JSON object")
    for section in ("claude", "copilot", "gemini", "calibration", "alerts", "pricing_overrides"):
        if section in data and not isinstance(data[section], dict):
            raise BudgetError(f"budget.json: field '{section}' must be an object")
    claude = data.get("claude", {})
    for key in ("five_hour_util", "seven_day_util"):
        _number(claude.get(key), f"claude.{key}")
    copilot = data.get("copilot", {})
    if copilot.get("unit") not in (None, *COPILOT_UNITS):
        raise BudgetError(f"budget.json: field 'copilot.unit' must be one of {', '.join(COPILOT_UNITS)}")
    for key in ("used", "limit"):
        _number(copilot.get(key), f"copilot.{key}")
    gemini = data.get("gemini", {})
    for key in ("used", "limit"):
        _number(gemini.get(key), f"gemini.{key}")
    for name, entry in data.get("calibration", {}).items():
        if not isinstance(entry, dict):
            raise BudgetError(f"budget.json: field 'calibration.{name}' must be an object")
        for key in ("samples", "token_samples"):
            count = entry.get(key, 0)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise BudgetError(f"budget.json: field 'calibration.{name}.{key}' must be a whole number ≥ 0")
        for key in ("units_total", "pct_total", "token_units_total", "output_tokens_total"):
            _number(entry.get(key, 0), f"calibration.{name}.{key}")
    alerts = data.get("alerts", {})
    for key in ("warn_at", "critical_at", "block_at"):
        _number(alerts.get(key), f"alerts.{key}")
    return data


# ---------------------------------------------------------------- load / update

def load(path: Path) -> dict:
    """The current state; the template when the file does not exist yet."""
    if not path.exists():
        return default_budget()
    data = read_json_file(path, "budget.json")
    validate(data)
    return fill_defaults(migrate(data))


@contextlib.contextmanager
def update(path: Path):
    """Read-modify-write under an exclusive lock; the write happens only if the
    block finishes without raising, and is atomic."""
    with locked(path):
        data = load(path)
        yield data
        validate(data)
        write_atomic(path, dump_json(data))


def save_new(path: Path, data: dict) -> None:
    with locked(path):
        write_atomic(path, dump_json(data))
