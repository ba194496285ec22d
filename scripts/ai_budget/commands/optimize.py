"""budget optimize: where the tokens could go further, from your own counts (estimates)."""

from __future__ import annotations

from datetime import timedelta

from .. import core, paths
from ..analysis import offload, optimize, reports
from ..outputs import session_log
from ..state import budget_file, index
from ..timefmt import ms_to_iso, parse_iso
from . import Result, day_ms, parse_day, zone

DEFAULT_DAYS = 30
OPUS_HEAVY = 0.5  # Opus's share of the cost above which the offload rules suggest Sonnet


def run(args, now) -> Result:
    tz = zone(args.tz)
    since = parse_day(args.since, "--since") or (now.astimezone(tz) - timedelta(days=DEFAULT_DAYS)).strftime("%Y-%m-%d")
    since_ms = day_ms(since, tz)
    budget = budget_file.load(paths.budget_file())
    prices = core.synced_prices(budget)
    rows = index.attributed(since_ms)
    records = session_log.records(paths.budget_home() / "sessions")
    ends = [parse_iso(end) for end in budget["claude"]["five_hour_ends"]]
    windows = sum(1 for end in ends if end is not None and end.timestamp() * 1000 >= since_ms)
    families = offload.family_models(prices)
    cost = sum(r[10] or 0.0 for r in rows)
    opus = sum(r[10] or 0.0 for r in rows if optimize.is_opus(r[1]))
    brief = core.brief(now, allow_fetch=False)
    claude = brief["claude"]
    recs = offload.recommendations(brief["backlog"], core.used_5h(claude), (claude.get("five_hour") or {}).get("resets_at"),
                                   prices, model="opus" if cost and opus / cost >= OPUS_HEAVY else None, bulk_api=True)
    data = {"since": since, "responses": len(rows), "cost_usd": round(cost, 4),
            "findings": optimize.findings(rows, prices, families, records, ms_to_iso(since_ms), windows,
                                          budget["alerts"]["critical_at"]),
            "offload": recs, "note": optimize.NOTE, "costNote": reports.COST_NOTE}
    return Result(data=data, text=render(data))


def _value(key: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if key.endswith("_usd"):
        return f"${value:,.2f}"
    if key.endswith("_pct"):
        return f"{value}%"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _facts(facts: dict) -> list[str]:
    plain = " · ".join(f"{k.replace('_', ' ')} {_value(k, v)}" for k, v in facts.items()
                       if not isinstance(v, list) and v is not None)
    lines = [f"   {plain}"] if plain else []
    for item in facts.get("top") or facts.get("sessions") or []:
        lines.append("   - " + ", ".join(f"{k.replace('_', ' ')} {_value(k, v)}" for k, v in item.items()))
    return lines


def render(data: dict) -> str:
    out = [f"Findings since {data['since']} ({data['responses']:,} responses, ${data['cost_usd']:.2f} API-equivalent)", ""]
    for n, f in enumerate(data["findings"], 1):
        saving = (f"est. saving ${f['saving_usd']:.2f}" if f["saving_usd"] is not None else "no saving in dollars") + \
            f" ({f['saving_basis']})"
        out.append(f"{n}. {f['title']}: {saving}" if f["found"] else f"{n}. {f['title']}: nothing found")
        out += _facts(f["facts"])
        if f["found"]:
            out.append(f"   {f['advice']}")
    out += ["", "Offload rules now:"]
    for r in data["offload"]:
        saving = f" (saves ~{r['saving_pct']}% of {r['saving_basis']})" if r.get("saving_pct") is not None else ""
        out.append(f" - {_action(r)}{saving}: {r['reason']}")
    return "\n".join(out + ["", data["note"]])


def _action(r: dict) -> str:
    kind = r["action"]
    if kind == "switch_model":
        return f"switch {r['from']} → {r['to']}"
    if kind == "move":
        return f"move '{r['task']}' to {' or '.join(r['to'])}"
    if kind == "defer":
        return f"defer {repr(r['task']) + ' ' if r.get('task') else ''}to the reset{' at ' + r['until'] if r.get('until') else ''}"
    if kind == "checkpoint":
        return f"checkpoint '{r['task']}' after {r['fits_units']} unit(s), at ~{r['stop_at_pct']:.0f}% of the window"
    return "batch bulk API work" if kind == "batch_api" else kind
