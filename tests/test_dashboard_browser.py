"""The dashboard in a real browser: headless Chromium (Debian's `chromium`) loads the
page from the server on a free loopback port, its scripts fetch the JSON API and draw,
and the DOM they leave (`--dump-dom`) shows the gauge's %, the state, the ticking
countdown and the ledger figures, in the normal, warning, critical and no-data states.
Skipped, with the reason, where Chromium is not installed (`.ci/run` installs it where
apt is available)."""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
import threading

import pytest

import dashboard_data
from ai_budget.commands import serve
from ai_budget.sources import admin_api
from conftest import run, run_json

pytestmark = pytest.mark.skipif(not os.access(dashboard_data.CHROMIUM, os.X_OK),
                                reason=f"headless Chromium not found at {dashboard_data.CHROMIUM} (Debian: apt-get install chromium)")


class Page(html.parser.HTMLParser):
    """Each element with an id: its attributes and its text (descendants included)."""

    VOID = {"meta", "link", "input", "br", "img", "hr", "source", "col", "area", "base", "wbr"}

    def __init__(self, dom: str):
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.body: dict = {}
        self._open: list = []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        entry = {"attrs": attrs, "text": ""}
        if "id" in attrs:
            self.by_id[attrs["id"]] = entry
        if tag not in self.VOID:
            self._open.append(entry)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data):
        for entry in self._open:
            entry["text"] += data

    def text(self, id_: str) -> str:
        return " ".join(self.by_id[id_]["text"].split())

    def shown(self, id_: str) -> bool:
        return "hidden" not in self.by_id[id_]["attrs"]


@pytest.fixture
def browse(env, clock, monkeypatch, tmp_path):
    monkeypatch.delenv(admin_api.KEY_ENV, raising=False)
    srv = serve.make_server(0, lambda: clock["now"])
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def load(five) -> Page:
        dashboard_data.populate(env.budget, env.projects, clock["now"], five)
        return Page(dashboard_data.dump_dom(srv.url, tmp_path / "profile"))

    load.server = srv
    yield load
    srv.shutdown()
    srv.server_close()


def assert_ledgers(page: Page):
    assert page.text("api-balance") == "$163.00"
    assert page.text("api-burn") == f"${87 / 28:.2f}/day over 28 days"
    assert page.text("api-runway").startswith(f"{int(163 / (87 / 28))} days, until ")  # whole days left
    assert page.text("api-month").startswith("$")
    assert page.text("copilot-figure") == "285 of 1,500 credits"
    assert page.text("copilot-reset").startswith("1,215 left · resets ")
    assert page.text("gemini-figure") == "active" and page.text("gemini-usage").startswith("40 of 1,000 requests")


@pytest.mark.parametrize("five, state, badge", [(42.0, "normal", None), (76.0, "warning", "Approaching limit"),
                                                (95.0, "critical", "Near limit")])
def test_each_state_in_chromium(browse, tmp_path, five, state, badge):
    page = browse(five)
    assert page.body.get("data-loaded") == "yes", "the page's scripts did not finish"
    assert page.body["data-state"] == state
    assert page.text("gauge-pct") == f"{five:.0f}%"
    assert page.text("countdown") == "resets in 2h 14m"
    assert page.text("updated") == "Last updated just now"
    assert page.text("plan") == "Claude Max"
    assert page.shown("state-badge") == (badge is not None) == page.shown("alert-line")
    if badge:
        assert page.text("state-badge") == badge
        assert page.text("alert-line").startswith(f"⚠ {badge}: {five:.0f}%")
    assert page.text("seven-pct") == "41%"
    assert "◆ binding limit" in page.text("scoped") and "Sonnet" in page.text("scoped")
    assert page.shown("pace-mark") and page.text("pace").startswith("Pace: ")
    assert page.text("sessions-count") == "3"
    assert page.text("today-cost").startswith("$") and page.text("today-cost").endswith("API-eq. est.")
    assert "claude-opus-4-1" in page.text("models") and "claude-haiku-4-5" in page.text("models")
    assert page.text("chart-total").startswith("· $") and "<rect" not in page.text("chart")
    assert "Flashcard content" in page.text("backlog") and page.text("recommendation")
    assert "flashcard" in page.text("calibration") and "2.56%" in page.text("calibration")
    assert not page.shown("problem")
    assert page.shown("limits") and "Today$1." in page.text("limits") and "/ $1.80 · warning" in page.text("limits")
    assert "This month$" in page.text("limits") and "/ $200.00" in page.text("limits")
    assert_ledgers(page)
    assert browse.server.token not in page.text("claude")  # the token is in the page's meta tag only
    shot(browse, tmp_path, "1280,1800" if state != "critical" else "390,2600")  # and at a phone's width


def test_no_data_shows_what_to_run(browse, tmp_path):
    page = browse(None)
    assert page.body.get("data-loaded") == "yes"
    assert page.body["data-state"] == "none"
    assert page.text("gauge-pct") == "–" and page.text("countdown") == ""
    assert not page.shown("state-badge") and not page.shown("limits")
    assert page.shown("claude-empty") and "budget.py fetch" in page.text("claude-empty")
    assert "install --statusline" in page.text("claude-empty")
    assert page.text("today-tokens") == "No Claude Code transcripts found yet on this machine"
    assert page.text("sessions-count") == "0" and page.text("sessions-cost") == "No sessions today"
    assert page.text("chart") == "No usage in the last 30 days."
    assert page.text("api-balance") == "No balance yet" and "set api --balance" in page.text("api-asof")
    assert page.text("copilot-figure") == "No count yet"
    assert "No open tasks" in page.text("backlog") and "Not calibrated yet" in page.text("calibration")
    assert page.shown("problem") and "no Claude login" in page.text("problem")  # why there is no reading
    shot(browse, tmp_path)


def shot(browse, tmp_path, size="1280,1800") -> None:
    out = tmp_path / f"shot-{size}.png"
    dashboard_data.screenshot(browse.server.url, tmp_path / "profile", out, size)
    raw = out.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 20_000


FORM_MSG = "document.querySelector('form[data-what={what}] .form-msg')"


def submit(browser, what: str, **fields) -> str:
    """Fill in the page's form as a user would, submit it, and wait for its answer line."""
    browser.js(f"(() => {{ const f = document.querySelector('form[data-what={what}]'); f.reset(); "
               f"for (const [k, v] of Object.entries({json.dumps(fields)})) f.elements[k].value = v; "
               f"{FORM_MSG.format(what=what)}.textContent = ''; f.requestSubmit(); return true; }})()")
    msg = FORM_MSG.format(what=what)
    return browser.wait_for(f"{msg}.textContent && {msg}.textContent !== 'Saving…' && "
                            f"({msg}.className + ' ' + {msg}.textContent)")


@pytest.mark.skipif(not shutil.which("bash"), reason="bash is needed to hand Chromium its DevTools pipe")
def test_a_form_entry_on_the_page_is_committed_and_in_check(browse, env, clock, tmp_path, capsys):
    """Done when: a ledger entry made on the page appears in `budget check` and is committed."""
    dashboard_data.populate(env.budget, env.projects, clock["now"], 42.0)
    browser = dashboard_data.Browser(browse.server.url, tmp_path / "live")
    try:
        assert browser.wait_for("document.body.dataset.loaded === 'yes' && document.getElementById('api-balance').textContent") == "$163.00"
        answer = submit(browser, "api", balance="99.5", topup="10")
        assert answer.startswith("form-msg done Saved: API credits: $99.50 balance after a $10.00 top-up (commit ")
        assert browser.wait_for("document.getElementById('api-balance').textContent === '$99.50'")  # the page refreshed
        code, _, err = run(capsys, "set", "copilot", "--used", "lots")
        assert code == 2 and submit(browser, "copilot", used="lots") == "form-msg error " + err.strip().removeprefix("budget set: ")
        assert submit(browser, "gemini", status="paused").startswith("form-msg done Saved: Gemini: paused")
        assert browser.wait_for("document.getElementById('gemini-figure').textContent === 'paused'")
    finally:
        browser.close()
    check = run_json(capsys, "check", "--no-fetch")[1]
    assert check["api_credits"]["balance_usd"] == 99.5 and check["gemini"]["status"] == "paused"
    assert check["copilot"]["used"] == 285  # the refused entry changed nothing
    log = subprocess.run(["git", "-C", str(env.budget), "log", "--format=%s"], capture_output=True, text=True).stdout.splitlines()
    assert log[:2] == ["balance: Gemini: paused, 40 of 1000 requests",
                       "balance: API credits: $99.50 balance after a $10.00 top-up"]
    assert json.loads((env.budget / "ledgers" / "api.jsonl").read_text().splitlines()[-1])["topup_usd"] == 10


@pytest.mark.skipif(not shutil.which("bash"), reason="bash is needed to hand Chromium its DevTools pipe")
@pytest.mark.parametrize("width", [360, 1280])
def test_the_page_fits_its_width(browse, env, clock, tmp_path, width):
    """Nothing wider than the window at a phone's width or a desktop's (tables scroll inside their panel)."""
    dashboard_data.populate(env.budget, env.projects, clock["now"], 95.0)
    browser = dashboard_data.Browser(browse.server.url, tmp_path / "fit", width=width)
    try:
        browser.wait_for("document.body.dataset.loaded === 'yes'")
        widths = browser.js("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[1] <= width and widths[0] <= widths[1], widths
        labels = browser.js("[...document.querySelectorAll('input, select')].every((f) => f.closest('label'))")
        assert labels  # every form field has its label
    finally:
        browser.close()


def test_hostile_text_is_shown_as_text(browse, env, clock, capsys):
    """Names the page shows come from files a user (or a tool) wrote: markup in them stays text."""
    dashboard_data.populate(env.budget, env.projects, clock["now"], 42.0)
    evil = '<img src=x onerror="document.body.dataset.pwned=1">'
    assert run(capsys, "set", "gemini", "--status", evil)[0] == 0
    with (env.budget / "tasks" / "backlog.md").open("a") as f:
        f.write(f"[L] Fix {evil}<script>document.body.dataset.pwned=2</script> (feature x1)\n")
    page = Page(dashboard_data.dump_dom(browse.server.url, env.root / "profile-evil"))
    assert page.body.get("data-loaded") == "yes" and "data-pwned" not in page.body
    assert page.text("gemini-figure") == evil and evil in page.text("backlog")
