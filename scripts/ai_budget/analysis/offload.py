"""The offload rules: switch to a cheaper model, defer to the reset, split at a
checkpoint, move light work to Copilot or Gemini, batch bulk API work. Pure: the
plan (analysis/planner.py) and the reading in, recommendations out. Shared by the
MCP server's get_offload_recommendations and `budget optimize`."""

from __future__ import annotations

from .planner import LOW_HEADROOM_PCT

# What a saving_pct is a share of: the two are not the same quantity.
LIST_PRICE = "API-equivalent cost at list output prices (estimate)"
THIS_WINDOW = "this 5-hour window's use"


def family_models(prices) -> dict:
    """{family: model name}: the newest priced model of each family."""
    return {f: m for f in ("opus", "sonnet", "haiku") if (m := prices.newest(f))}


def recommendations(plan: dict, used: float | None, resets: str | None, prices, *, planned: float | None = None,
                    model: str | None = None, simple: bool = False, bulk_api: bool = False) -> list[dict]:
    """Each recommendation with its reason and, where one can be said, its saving and what it is a share of.
    `used`: the 5-hour window's % (None: unknown); `planned`: the % the next task is expected to take."""
    low = used is not None and (plan["headroom_pct"] < LOW_HEADROOM_PCT or (planned or 0) > plan["headroom_pct"])
    families = family_models(prices)
    recs = []

    def saving(dear, cheap):  # output price ratio: an estimate; how the plan weighs models is not published
        if dear in families and cheap in families:
            dear_out, cheap_out = (prices.models[families[f]][-1]["output"] for f in (dear, cheap))
            return round(100 * (1 - cheap_out / dear_out))
        return None

    if low or model == "opus":
        recs.append({"action": "switch_model", "from": "Opus", "to": "Sonnet", "saving_pct": saving("opus", "sonnet"),
                     "saving_basis": LIST_PRICE, "reason": "Sonnet costs less per token at list prices"})
    if simple:
        recs.append({"action": "switch_model", "from": "Sonnet", "to": "Haiku", "saving_pct": saving("sonnet", "haiku"),
                     "saving_basis": LIST_PRICE, "reason": "simple work does not need a larger model"})
    if planned and used is not None and planned > plan["headroom_pct"]:
        recs.append({"action": "defer", "until": resets, "saving_pct": 100, "saving_basis": THIS_WINDOW,
                     "reason": f"the planned {planned:.0f}% does not fit the {plan['headroom_pct']:.0f}% left"})
    for e in plan["defer"]:
        recs.append({"action": "defer", "task": e["text"], "until": resets, "estimate_pct": e["estimate_pct"],
                     "reason": "does not fit what is left of this window"})
    if plan["checkpoint"]:
        cp = plan["checkpoint"]
        recs.append({"action": "checkpoint", "task": cp["task"]["text"], "fits_units": cp["fits_units"],
                     "stop_at_pct": cp["stop_at_pct"], "reason": "only part of it fits before the reset"})
    for m in plan["move"]:
        recs.append({"action": "move", "task": m["task"]["text"], "to": m["to"], "saving_pct": 100,
                     "saving_basis": THIS_WINDOW, "estimate_pct": m["task"]["estimate_pct"], "reason": "light work another tool can do"})
    if bulk_api:
        recs.append({"action": "batch_api", "saving_pct": 50, "saving_basis": "API bill",
                     "reason": "the Batch API bills at half the list price"})
    return recs
