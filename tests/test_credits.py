"""API credits from the hand-kept ledger (analysis/credits.py): spend from the declines
between entries, spread over their interval; burn over the last 30 days; runway."""

from datetime import datetime, timedelta, timezone

from ai_budget.analysis import credits

T0 = datetime(2030, 11, 25, tzinfo=timezone.utc)
DEC = datetime(2030, 12, 1, tzinfo=timezone.utc)


def entry(days, balance, topup=None):
    e = {"at": (T0 + timedelta(days=days)).isoformat(), "balance_usd": balance}
    return {**e, "topup_usd": topup} if topup is not None else e


def test_a_decline_across_the_month_start_is_split_by_time():
    s = credits.summary([entry(0, 100), entry(10, 50)], T0 + timedelta(days=10), DEC)
    assert s["month_spend_usd"] == 20.0  # 4 of the 10 days are in December
    assert (s["burn_usd_per_day"], s["burn_days"], s["runway_days"]) == (5.0, 10.0, 10.0)
    assert s["runs_out_at"] == "2030-12-15T00:00:00Z" and s["balance_usd"] == 50 and not s["stale"]


def test_top_ups_are_money_added_and_a_rise_is_no_negative_spend():
    s = credits.summary([entry(0, 100), entry(2, 130, topup=50), entry(4, 160), entry(6, 150)], T0 + timedelta(days=6), DEC)
    assert s["burn_usd_per_day"] == round((20 + 0 + 10) / 6, 2)  # 100+50−130, a rise of 30 taken as an unrecorded top-up, 10


def test_what_one_entry_or_one_instant_cannot_say():
    one = credits.summary([entry(0, 100)], T0 + timedelta(days=9), DEC)
    assert one["month_spend_usd"] is None and one["burn_usd_per_day"] is None and one["runway_days"] is None
    assert one["stale"] and one["age_days"] == 9.0
    same = credits.summary([entry(0, 100), entry(0, 90)], T0, T0)
    assert same["burn_usd_per_day"] is None and same["balance_usd"] == 90
    assert credits.summary([], T0, DEC)["balance_usd"] is None


def test_no_spend_is_no_runway_date():
    s = credits.summary([entry(0, 100), entry(5, 100)], T0 + timedelta(days=5), DEC)
    assert s["burn_usd_per_day"] == 0.0 and s["runway_days"] is None and s["runs_out_at"] is None


def test_the_burn_looks_back_30_days_of_entries():
    s = credits.summary([entry(0, 1000), entry(40, 600), entry(70, 300)], T0 + timedelta(days=70), DEC)
    assert s["burn_days"] == 30.0 and s["burn_usd_per_day"] == 10.0  # only the last 30 days' decline


def test_a_ledger_dated_far_ahead_has_no_runway_date():
    """Entries in year 9998 gave a runway date past year 9999: an OverflowError, and `check`,
    the SessionStart brief and the dashboard failed with an internal error."""
    far = datetime(9998, 1, 1, tzinfo=timezone.utc)
    entries = [{"at": far.isoformat(), "balance_usd": 2000}, {"at": (far + timedelta(days=60)).isoformat(), "balance_usd": 1940}]
    s = credits.summary(entries, T0, DEC)
    assert (s["burn_usd_per_day"], s["runway_days"], s["runs_out_at"]) == (1.0, 1940.0, None)
