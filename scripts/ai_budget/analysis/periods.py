"""One calendar period's usage from report rows (`tokens.Usage`): what `budget usage`
shows for today, this week and this month. Pure.

Only transcript lines count (as ccusage and the limits count them); the calls only
cost-state records hold are left out here, as in the brief's local figures."""

from __future__ import annotations

from ..tokens import Totals

TOP = 3


def summary(rows, start, now) -> dict:
    """Rows from `start` (an aware local datetime on a slot boundary: slots never straddle it) to now."""
    since_ms = int(start.timestamp() * 1000)
    tokens, cost, unpriced = Totals(), 0.0, 0
    sessions, models, projects = set(), {}, {}
    for u in rows:
        if u.cost_state or u.ts_ms < since_ms:
            continue
        tokens.add(u.tokens)
        cost += u.cost
        unpriced += u.unpriced
        sessions.add((u.project, u.session))
        if u.model_name:
            models[u.model_name] = models.get(u.model_name, 0.0) + u.cost
        projects[u.project] = projects.get(u.project, 0.0) + u.cost
    # Days begun in the period (today counts as one), so an average never divides by a part day.
    days = (now.astimezone().date() - start.date()).days + 1
    return {"since": start.isoformat(), "days": days, "responses": tokens.responses, "tokens": tokens.total,
            "input_tokens": tokens.input, "output_tokens": tokens.output, "cache_create_tokens": tokens.cache_create,
            "cache_read_tokens": tokens.cache_read, "cost_usd": round(cost, 4), "unpriced_responses": unpriced,
            "sessions": len(sessions), "daily_avg_usd": round(cost / days, 4),
            "daily_avg_tokens": round(tokens.total / days),
            "top_models": _top(models), "top_projects": _top(projects)}


def _top(costs: dict) -> list[dict]:
    ranked = sorted(costs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return [{"name": name, "cost_usd": round(cost, 4)} for name, cost in ranked]
