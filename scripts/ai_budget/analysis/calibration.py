"""Per-task-type cost averages, weighted by units. Pure.

Totals are kept, so the average is exact: a 20-card session weighs 20/35 of
the flashcard average after a 15-card one, not half (the plan's mean of
per-session means gave 2.93 %/card for its own example; the true value is
89.5 % / 35 cards = 2.557 %).
"""

from __future__ import annotations

import math
from datetime import timedelta

from ..errors import BudgetError

# Bounds far above any real session; a 309-digit unit count overflowed float arithmetic later.
MAX_UNITS = 1_000_000
MAX_PCT_DELTA = 1000.0
MAX_OUTPUT_TOKENS = 10**12
APPLIED_KEEP = timedelta(days=7)  # how long a log can be retried without counting twice


def validate_sample(units, pct_delta, output_tokens=None) -> tuple[int, float, int | None]:
    """Parse and check one sample's arguments; raise with the argument named."""
    try:
        units_i = int(str(units))
    except ValueError:
        raise BudgetError(f"units: must be a positive whole number, got {str(units)[:40]!r}") from None
    if not 0 < units_i <= MAX_UNITS:
        raise BudgetError(f"units: must be a whole number from 1 to {MAX_UNITS:,}, got {str(units)[:40]!r}")
    try:
        pct = float(pct_delta)
    except (TypeError, ValueError):
        raise BudgetError(f"five_hour_pct_delta: must be a number ≥ 0, got {pct_delta!r}") from None
    if not 0 <= pct <= MAX_PCT_DELTA:  # NaN fails too
        raise BudgetError(f"five_hour_pct_delta: must be a number from 0 to {MAX_PCT_DELTA:g}, got {str(pct_delta)[:40]!r}")
    tokens = None
    if output_tokens is not None:
        try:
            tokens = int(str(output_tokens))
        except ValueError:
            raise BudgetError(f"output_tokens: must be a whole number ≥ 0, got {output_tokens!r}") from None
        if not 0 <= tokens <= MAX_OUTPUT_TOKENS:
            raise BudgetError(f"output_tokens: must be a whole number from 0 to {MAX_OUTPUT_TOKENS:,}, "
                              f"got {str(output_tokens)[:40]!r}")
    return units_i, pct, tokens


# Spread: each sample is a per-unit cost x = pct / units weighing `units`. Kept as the
# sum of pct² / units (= Σ units · x²), so the weighted variance is exact, and a retried
# log takes its sample out again by the same subtraction. None = unknown (a total
# migrated from schema 4, which kept no squares): `calibrate --rebuild` recomputes it.
SPREADS = (("pct_sq_total", "samples", "units_total", "pct_total"),
           ("tokens_sq_total", "token_samples", "token_units_total", "output_tokens_total"))


def spread(entry: dict, which: int = 0) -> float | None:
    """Standard deviation of the per-unit cost between samples (weighted by units,
    n/(n-1)-corrected so equal units give the usual sample sd); None below 2 samples
    or when the sum of squares is unknown."""
    sq_key, n_key, units_key, total_key = SPREADS[which]
    sq, n, units = _square(entry, sq_key, n_key), entry.get(n_key) or 0, entry.get(units_key) or 0
    if sq is None or n < 2 or not units:
        return None
    mean = entry[total_key] / units
    return math.sqrt(max(0.0, sq / units - mean * mean) * n / (n - 1))


def with_averages(entry: dict) -> dict:
    units = entry.get("units_total") or 0
    token_units = entry.get("token_units_total") or 0
    entry["avg_5h_pct"] = round(entry["pct_total"] / units, 4) if units else None
    entry["avg_output_tokens"] = round(entry["output_tokens_total"] / token_units) if token_units else None
    sd_pct, sd_tokens = spread(entry, 0), spread(entry, 1)
    entry["sd_5h_pct"] = None if sd_pct is None else round(sd_pct, 4)
    entry["sd_output_tokens"] = None if sd_tokens is None else round(sd_tokens)
    return entry


def _square(entry: dict, key: str, n_key: str):
    """The sum of squares; a missing one is 0 with no samples, else unknown."""
    return entry[key] if key in entry else (None if entry.get(n_key) else 0.0)


def _add_square(old, count: int, value: float, units: int, ndigits: int):
    return None if old is None else max(0.0, round(old + count * value * value / units, ndigits))


def add_sample(entry: dict, units: int, pct_delta: float | None, output_tokens: int | None = None,
               count: int = 1) -> dict:
    """A new entry with one session's sample folded in. pct_delta None = tokens only
    (an untrusted utilisation delta must not move the % average). `samples` counts
    only samples that fed the % average: it is what "calibrated: N samples" means.
    count=-1 takes a sample out again (a retried log replaces what its failed run added)."""
    new = dict(entry)
    if pct_delta is not None:
        new["samples"] = entry.get("samples", 0) + count
        new["units_total"] = entry.get("units_total", 0) + count * units
        new["pct_total"] = round(entry.get("pct_total", 0.0) + count * pct_delta, 6)
        new["pct_sq_total"] = _add_square(_square(entry, "pct_sq_total", "samples"), count, pct_delta, units, 6)
    if output_tokens is not None:
        new["token_samples"] = entry.get("token_samples", 0) + count
        new["token_units_total"] = entry.get("token_units_total", 0) + count * units
        new["output_tokens_total"] = entry.get("output_tokens_total", 0) + count * output_tokens
        new["tokens_sq_total"] = _add_square(_square(entry, "tokens_sq_total", "token_samples"), count, output_tokens, units, 3)
    for sq, n, *_ in SPREADS:
        if new.get(n) == 0:  # no samples left: the sum of squares is known again
            new[sq] = 0.0
    return with_averages(new)


def valid_record_task(task) -> dict:
    """One calibration sample from a record (a session log, the manual ledger), checked
    as strictly as the command line checks it; raises BudgetError."""
    ok = isinstance(task, dict) and isinstance(task.get("type"), str) and type(task.get("units")) is int \
        and (task.get("pct") is None or type(task["pct"]) in (int, float)) \
        and (task.get("output_tokens") is None or type(task["output_tokens"]) is int)
    if not ok:
        raise BudgetError(f"not a calibration sample: {task!r}"[:200])
    pct = task.get("pct")
    units, pct_v, tokens = validate_sample(task["units"], 0 if pct is None else pct, task.get("output_tokens"))
    return {"type": valid_type_name(task["type"]), "units": units, "pct": None if pct is None else pct_v,
            "output_tokens": tokens}


def manual_samples(budget: dict) -> list:
    """budget.json's ledger of the samples added by hand (`calibrate TYPE UNITS PCT`)."""
    samples = budget.setdefault("manual_samples", [])
    if not isinstance(samples, list):
        raise BudgetError("budget.json: field 'manual_samples' must be a list; left untouched")
    return samples


def estimate_pct(entry: dict | None, units: int) -> float | None:
    """Calibrated cost of `units` in % of the 5-hour window, or None without data."""
    if not entry or not entry.get("units_total"):
        return None
    return entry["pct_total"] / entry["units_total"] * units


def per_unit_text(entry: dict) -> str:
    """"2.57 %/card ± 0.40, 5 samples": the calibrated rate with its spread and count."""
    unit = str(entry.get("unit") or "per unit").removeprefix("per ").strip() or "unit"
    n, units = entry.get("samples", 0), entry.get("units_total") or 0
    if not units:
        return f"{entry.get('unit') or 'per unit'}, not calibrated yet"
    sd = spread(entry)
    if sd is not None:
        plus = f" ± {sd:.2f}"
    elif n >= 2:  # squares unknown (migrated from schema 4) until calibrate --rebuild
        plus = " ± ?"
    else:
        plus = ""
    return f"{entry['pct_total'] / units:.2f} %/{unit}{plus}, {n} sample{'s' if n != 1 else ''}"


def require_type(calibration: dict, name: str) -> dict:
    if name not in calibration:
        known = ", ".join(sorted(calibration)) or "none"
        raise BudgetError(f"task type '{name}' is unknown; known types: {known} (add one with --add-type)")
    return calibration[name]


TYPE_NAME_MAX = 64


def is_type_name(name) -> bool:
    """A task type's name: a letter, then letters, digits and _ (never a terminal escape), at most 64."""
    return isinstance(name, str) and 0 < len(name) <= TYPE_NAME_MAX and name[0].isalpha() \
        and all(c.isalnum() or c == "_" for c in name)


def valid_type_name(name: str) -> str:
    if not is_type_name(name):
        raise BudgetError(f"--add-type: {name[:80]!r} must start with a letter and use only letters, digits and _ "
                          f"(at most {TYPE_NAME_MAX})")
    return name.lower()
