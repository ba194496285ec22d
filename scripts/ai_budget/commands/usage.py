"""budget usage: the "now" view, today, this week (from Monday) and this month on one
screen, with the spend limits' status (core.usage_now; writes nothing but caches)."""

from __future__ import annotations

from .. import core
from ..analysis.limits import PERIODS
from ..outputs.brief import limits_line
from ..outputs.text import num, table
from . import Result

TITLES = {"daily": "today", "weekly": "this week", "monthly": "this month"}


def _top(items: list[dict]) -> str:
    return ", ".join(f"{i['name']} ${i['cost_usd']:.2f}" for i in items) or "-"


def render(data: dict, now) -> str:
    rows = []
    for period in PERIODS:
        p = data[period]
        rows.append([TITLES[period], num(p["tokens"]), num(p["output_tokens"]), f"${p['cost_usd']:.2f}",
                     num(p["sessions"]), f"${p['daily_avg_usd']:.2f}", num(p["days"])])
    lines = [f"=== Usage on this machine: {now.astimezone().strftime('%a %d %b %Y %H:%M')} ===", "",
             table(["period", "tokens", "output", "cost (API-eq.)", "sessions", "per day", "days"], rows), ""]
    for kind in ("models", "projects"):
        for period in PERIODS:
            lines.append(f"{f'Top {kind}, {TITLES[period]}:':<26}{_top(data[period][f'top_{kind}'])}")
    summary = limits_line(data["limits"])
    lines += ["", f"Limits: {summary} → {data['limits']['status']}" if summary else
              "Limits: none set (budget set limits --daily 10 --weekly 50 --monthly 200)"]
    unpriced = data["monthly"]["unpriced_responses"]
    if unpriced:
        lines.append(f"{unpriced:,} response(s) this month have no known price (not counted as $0 in the costs)")
    lines.append("Costs are API-equivalent estimates at list prices of this machine's transcript lines; a subscription "
                 "is billed by plan. Periods in local time: the day from midnight, the week from Monday, the month "
                 "from the 1st; 'per day' divides by the days begun.")
    return "\n".join(lines)


def run(args, now) -> Result:
    data = core.usage_now(now)
    return Result(data=data, text=render(data, now))
