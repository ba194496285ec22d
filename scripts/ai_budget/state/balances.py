"""The manual balances (Copilot, Gemini, Anthropic API credits) and the alert
thresholds: one validation for `budget set` and the dashboard's forms.

Fields arrive as text, as the command line gives them (None: not given); each
function checks them, changes the section of budget.json it is handed (callers
hold its lock) and returns the summary line. What a change records in its ledger
is `ledger_entry`."""

from __future__ import annotations

from datetime import datetime, timezone

from ..errors import BudgetError
from ..timefmt import iso, parse_iso
from . import budget_file

# The fields each section takes, as `budget set <what> --<field>` spells them (underscores as dashes).
FIELDS = {"copilot": ("used", "limit", "unit", "plan", "resets_at"),
          "gemini": ("status", "used", "limit", "unit"),
          "alerts": ("warn_at", "critical_at", "block_at"),
          "api": ("balance", "topup")}
MAX_TEXT = 200

# GitHub Copilot's monthly allowances per plan: AI Credits since 2026-06-01, premium
# requests for legacy annual subscribers.
COPILOT_ALLOWANCES = {
    ("free", "premium_requests"): 50,
    ("pro", "premium_requests"): 300,
    ("pro+", "premium_requests"): 1500,
    ("pro", "credits"): 1500,
    ("pro+", "credits"): 7000,
    ("max", "credits"): 20000,
}


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def check_fields(what: str, fields: dict) -> dict:
    """Every field known to `what` (None when not given); anything else is refused."""
    if what not in FIELDS:
        raise BudgetError(f"unknown balance {str(what)[:40]!r}: one of {', '.join(FIELDS)}")
    for key, value in fields.items():
        if key not in FIELDS[what]:
            raise BudgetError(f"{what}: unknown field {str(key)[:40]!r} (known: {', '.join(FIELDS[what])})")
        if value is not None and not isinstance(value, str):
            raise BudgetError(f"{flag(key)}: must be given as text, got {type(value).__name__}")
        if value is not None and (len(value) > MAX_TEXT or not value.isprintable()):
            raise BudgetError(f"{flag(key)}: must be one line of at most {MAX_TEXT} printable characters")
    return {key: fields.get(key) for key in FIELDS[what]}


def next_month_start(now: datetime) -> datetime:
    """Copilot allowances reset on the 1st at 00:00 UTC."""
    now = now.astimezone(timezone.utc)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc)


def _date(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    parsed = parse_iso(value if "T" in value else value + "T00:00:00+00:00")
    if parsed is None:
        raise BudgetError(f"{name}: expected a date like 2026-12-01, got {value!r}")
    return iso(parsed)


def _used_vs_limit(section: dict, name: str, warnings: list) -> None:
    used, limit = section.get("used"), section.get("limit")
    if used is not None and limit is not None and used > limit:
        warnings.append(f"{name}: used ({used}) exceeds limit ({limit}); overage may be billed")


def set_copilot(f: dict, now, budget, warnings) -> str:
    c = budget["copilot"]
    if f["plan"]:
        c["plan"] = f["plan"].lower()
    if f["unit"]:
        if f["unit"] not in budget_file.COPILOT_UNITS:
            raise BudgetError(f"--unit: must be one of {', '.join(budget_file.COPILOT_UNITS)}")
        c["unit"] = f["unit"]
    limit = budget_file.parse_count(f["limit"], "--limit")
    if limit is not None:
        c["limit"] = limit
    elif f["plan"] or f["unit"]:
        allowance = COPILOT_ALLOWANCES.get((c["plan"], c["unit"]))
        if allowance is not None:
            c["limit"] = allowance
    used = budget_file.parse_count(f["used"], "--used")
    if used is not None:
        c["used"] = used
    resets = _date(f["resets_at"], "--resets-at")
    if resets:
        c["resets_at"] = resets
    elif c.get("resets_at") is None or (parse_iso(c["resets_at"]) and parse_iso(c["resets_at"]) <= now):
        c["resets_at"] = iso(next_month_start(now))
    c["last_updated"] = iso(now)
    _used_vs_limit(c, "copilot", warnings)
    return f"Copilot: {c['used']} of {c['limit']} {c['unit']} used, resets {c['resets_at'][:10]}"


def set_gemini(f: dict, now, budget, warnings) -> str:
    g = budget["gemini"]
    if f["status"]:
        g["status"] = f["status"].strip()
    for key in ("used", "limit"):
        value = budget_file.parse_count(f[key], f"--{key}")
        if value is not None:
            g[key] = value
    if f["unit"]:
        g["unit"] = f["unit"]
    g["last_updated"] = iso(now)
    _used_vs_limit(g, "gemini", warnings)
    usage = f", {g['used']} of {g['limit']} {g['unit']}" if g.get("used") is not None else ""
    return f"Gemini: {g['status']}{usage}"


def set_alerts(f: dict, now, budget, warnings) -> str:
    a = budget["alerts"]
    for key in ("warn_at", "critical_at"):
        value = budget_file.parse_count(f[key], flag(key))
        if value is not None:
            a[key] = value
    if f["block_at"] is not None:
        a["block_at"] = None if f["block_at"].lower() == "off" else budget_file.parse_count(f["block_at"], "--block-at")
    if not 0 < a["warn_at"] < a["critical_at"] <= 100:
        raise BudgetError("alerts: need 0 < --warn-at < --critical-at ≤ 100")
    if a["block_at"] is not None and not 0 < a["block_at"] <= 200:
        raise BudgetError("--block-at: must be between 0 and 200 (or 'off')")
    block = f", block prompts at {a['block_at']}%" if a["block_at"] is not None else ", never block"
    return f"Alerts: warn at {a['warn_at']}%, critical at {a['critical_at']}%{block}"


def api_entry(f: dict, now) -> dict:
    """The API-credits ledger entry: the balance now, and what was topped up since the last one."""
    entry = {"at": iso(now)}
    for key, required in (("balance", True), ("topup", False)):
        value = budget_file.parse_count(f[key], flag(key))
        if value is None and required:
            raise BudgetError("--balance: required (the credit balance in USD, as the Console shows it)")
        if value is not None and value > budget_file.MAX_NUMBER:
            raise BudgetError(f"{flag(key)}: must be at most {budget_file.MAX_NUMBER:g}")
        if value is not None:
            entry[f"{key}_usd"] = value
    return entry


def api_text(entry: dict) -> str:
    topup = f" after a ${entry['topup_usd']:,.2f} top-up" if entry.get("topup_usd") else ""
    return f"API credits: ${entry['balance_usd']:,.2f} balance{topup}"


HANDLERS = {"copilot": set_copilot, "gemini": set_gemini, "alerts": set_alerts}
LEDGER_KEYS = {"copilot": ("used", "limit", "unit", "resets_at", "plan"), "gemini": ("status", "used", "limit", "unit")}


def ledger_entry(what: str, section: dict, now) -> dict:
    """What a change of Copilot or Gemini records: the section's values after it."""
    return {"at": iso(now), **{k: section.get(k) for k in LEDGER_KEYS[what]}}
