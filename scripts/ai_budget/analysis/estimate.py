"""A task's cost before it starts: from the task type's calibration (with its
spread and sample count), else a complexity tier's default. Pure.

Tiers are ranges of output tokens for the whole task; each file the task reads or
edits widens them by a multiplier. Tokens become % of the 5-hour window by this
account's own ratio (calibration's % per output token) or, without one, an
assumed ratio for the plan; and API-equivalent dollars by this machine's recent
cost per output token (which carries its input and cache reads), or without local
usage the list price of the output tokens alone (a lower bound). The one table of
tiers; `budget estimate` and the MCP server's estimate_task_cost both use it.
"""

from __future__ import annotations

from ..errors import BudgetError
from .calibration import MAX_UNITS, per_unit_text, spread

# Output tokens of the whole task, low–high (README "`estimate`" documents them). On a Pro
# window at the assumed ratio below they span the backlog tags' defaults: about 1–4 %,
# 4–10 %, 10–24 %, 24–60 % and 60–120 % of the 5-hour window.
TIERS = {
    "trivial": (250, 1_000),
    "simple": (1_000, 2_500),
    "moderate": (2_500, 6_000),
    "complex": (6_000, 15_000),
    "massive": (15_000, 30_000),
}
DEFAULT_TIER = "moderate"
FILE_READ = 0.03  # each file the task reads: +3 % (its content comes back into the context)
FILE_EDIT = 0.07  # each file it edits: +7 % more (the edits are output)
MAX_FILES = 10_000
# Without calibration: 1 % of a Pro 5-hour window ≈ 250 output tokens (the plan's own first
# session: 9,843 output tokens were 38.5 %); Max 5x and 20x (renamed Ultra) windows are 5 and
# 20 times that. The 5-hour limits doubled on 2026-05-06, perhaps after that measurement, so
# this errs high; calibration replaces it with the account's own ratio.
ASSUMED_TOKENS_PER_PCT = 250
PLAN_SCALE = (("20x", 20), ("ultra", 20), ("5x", 5), ("max", 5))


def tier(name: str | None) -> str:
    name = (DEFAULT_TIER if name is None else name).strip().lower()
    if name not in TIERS:
        raise BudgetError(f"--tier: unknown tier {name[:40]!r}; use one of {', '.join(TIERS)}")
    return name


def count(value, flag: str, low: int = 0, high: int = MAX_FILES) -> int:
    """A whole number from the command line ('x15' and '×15' too, for units)."""
    text = str(value).strip().lstrip("x×").strip() if value is not None else ""
    try:
        n = int(text)
    except ValueError:
        raise BudgetError(f"{flag}: must be a whole number from {low} to {high:,}, got {str(value)[:40]!r}") from None
    if not low <= n <= high:
        raise BudgetError(f"{flag}: must be a whole number from {low} to {high:,}, got {str(value)[:40]!r}")
    return n


def units(value) -> int | None:
    return None if value is None else count(value, "units", 1, MAX_UNITS)


def file_multiplier(files: int, reads: int) -> float:
    """`files` read and edited, `reads` only read."""
    return 1 + FILE_READ * (files + reads) + FILE_EDIT * files


def plan_scale(claude: dict) -> int:
    label = f"{claude.get('rate_limit_tier') or ''} {claude.get('plan') or ''}".lower()
    return next((scale for key, scale in PLAN_SCALE if key in label), 1)


def pct_per_token(calibration: dict, claude: dict) -> tuple[float, str]:
    """% of the 5-hour window per output token: measured over every calibrated type
    with both averages, else assumed for the plan."""
    pct = tokens = 0.0
    samples = 0
    for e in calibration.values():
        if e.get("units_total") and e.get("token_units_total"):
            pct += e["pct_total"]
            tokens += e["output_tokens_total"] / e["token_units_total"] * e["units_total"]
            samples += e.get("samples", 0)
    if pct > 0 and tokens > 0:
        return pct / tokens, f"{tokens / pct:,.0f} output tokens per 1 % (your calibration, {samples} samples)"
    per = ASSUMED_TOKENS_PER_PCT * plan_scale(claude)
    return 1 / per, f"{per:,} output tokens per 1 % (assumed for the plan; calibrate to measure yours)"


def _range(mid: float, sd: float | None, n: int) -> dict:
    low, high = (mid, mid) if sd is None else (max(0.0, mid - sd * n), mid + sd * n)
    return {"low": low, "mid": mid, "high": high}


def _rounded(r: dict, digits: int) -> dict:
    return {k: round(v, digits) if digits else round(v) for k, v in r.items()}


def estimate(*, task_type: str | None, n_units: int | None, tier_name: str | None, files: int, reads: int,
             calibration: dict, claude: dict, used_5h: float | None, usd_per_token: tuple[float, str] | None) -> dict:
    """The estimate and where it came from; `used_5h` None = utilisation unknown."""
    entry = calibration.get(task_type) if task_type else None
    calibrated = entry is not None and bool(entry.get("units_total")) and tier_name is None
    n = n_units or 1
    if calibrated:
        pct = _range(entry["pct_total"] / entry["units_total"] * n, spread(entry), n)
        tokens = _range(entry["output_tokens_total"] / entry["token_units_total"] * n, spread(entry, 1), n) \
            if entry.get("token_units_total") else None
        basis = f"calibrated: {per_unit_text(entry)}"
        if files or reads:
            basis += " (files: already in what its sessions measured)"
        source, chosen, mult, ratio_basis = "calibration", None, None, None
    else:
        chosen, mult = tier(tier_name), file_multiplier(files, reads)
        low, high = TIERS[chosen]
        tokens = {"low": low * mult, "mid": (low + high) / 2 * mult, "high": high * mult}
        ratio, ratio_basis = pct_per_token(calibration, claude)
        pct = {k: v * ratio for k, v in tokens.items()}
        touched = f" × {mult:.2f} for {files + reads} file{'s' if files + reads != 1 else ''}" if files + reads else ""
        basis = f"{chosen} tier: {low:,}–{high:,} output tokens{touched}"
        if tier_name is None:
            basis += (f"; '{task_type}' not calibrated yet" if entry is not None
                      else "; no task type named, the default tier") + " (give --tier)"
        if n_units:
            basis += "; a tier is for the whole task, whatever its units"
        source = "tier"
    usd = None if tokens is None or usd_per_token is None else _rounded({k: v * usd_per_token[0] for k, v in tokens.items()}, 2)
    headroom = None if used_5h is None else max(0.0, 100.0 - used_5h)
    fits = None if headroom is None else \
        "fits" if pct["high"] <= headroom else "does not fit" if pct["low"] > headroom else "tight"
    return {"task_type": task_type if entry is not None else None, "units": n if calibrated else n_units,
            "source": source, "tier": chosen, "file_multiplier": mult, "basis": basis,
            "samples": entry.get("samples", 0) if calibrated else None,
            "pct": _rounded(pct, 1), "output_tokens": None if tokens is None else _rounded(tokens, 0),
            "pct_per_token_basis": ratio_basis,
            "api_equivalent_usd": usd, "usd_basis": usd_per_token[1] if usd is not None else None,
            "used_5h_pct": used_5h, "headroom_pct": None if headroom is None else round(headroom, 1), "fits": fits}
