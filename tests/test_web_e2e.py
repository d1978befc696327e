"""End to end in real headless Chromium (Debian's ``chromium``, driven by Playwright).

The service runs in the test's event loop on a loopback port. The journey: sign in through
the link found in the outbox, answer one section by clicking and another by typing in the
reply format, reload and resume, see an answer given by mail appear without reloading,
and finish with ``klar``. axe-core runs on every page state and must find nothing;
screenshots go to ``test-artifacts/web/``. Also: keyboard only (Tab order reaches every
control in order, Enter submits, focus lands on the next question), the page at 320 px
width, and the chat with JavaScript turned off.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.app import create_app
from bot.db.database import Database
from bot.db.tables import now
from bot.turn import handle_turn
from conversations.questionnaire import Model
from conversations.state import Turn
from tests.conftest_db import empty_tables
from tests.seed import Seeded, actor, seed
from tests.webutil import latest_link, web_settings

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def sdb(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    await empty_tables(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def seeded(sdb: Database, model: Model) -> Seeded:
    return await seed(sdb, model)


@pytest.fixture
async def base_url(sdb: Database, seeded: Seeded, tmp_path: Path) -> AsyncIterator[str]:
    probe = web.TCPSite  # the port is only known once bound: bind first, then set base_url
    runner = web.AppRunner(create_app(web_settings(tmp_path), db=sdb, workers=False))
    await runner.setup()
    site = probe(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            await b.close()


class Checker:
    """Runs axe-core on each page state and keeps a screenshot of it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.source = AXE.read_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def __call__(self, page: Page, state: str) -> None:
        self.count += 1
        await page.screenshot(
            path=str(ARTIFACTS / f"{self.name}-{self.count:02d}-{state}.png"), full_page=True
        )
        if not await page.evaluate("typeof window.axe !== 'undefined'"):
            await page.evaluate(self.source)  # DevTools evaluation is not subject to the page's CSP
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        violations = [
            f"{v['id']} ({v['impact']}): {v['help']} – " + "; ".join(n["target"][0] for n in v["nodes"][:3])
            for v in result["violations"]
        ]
        assert violations == [], f"axe on {state}: {violations}"


async def sign_in(page: Page, db: Database, base: str, address: str, check: Checker | None) -> None:
    await page.goto(f"{base}/logga-in")
    if check:
        await check(page, "signin")
    await page.get_by_label("E-postadress").fill(address)
    await page.get_by_role("button", name="Skicka inloggningslänk").click()
    await expect(page.get_by_role("heading", name="Titta i din e-post")).to_be_visible()
    if check:
        await check(page, "link-sent")
    link = await latest_link(db, address)
    await page.goto(base + link)
    if check:
        await check(page, "confirm")
    await page.get_by_role("button", name="Logga in").click()
    await expect(page.locator("#question-h")).to_be_visible()


async def live(page: Page) -> None:
    await expect(page.locator("#chat")).to_have_attribute("data-live", "on")


async def answer_by_clicking(page: Page, model: Model, qid: str) -> None:
    q = model.question(qid)
    assert q is not None
    await expect(page.locator("#question-h")).to_have_text(f"Fråga {qid}")
    plain = [o.id for o in q.options if not o.exclusive]
    for letter in plain[:1] if q.scoring == "scale" else plain[:2]:
        await page.locator(f"#val-{letter}").check()
    await page.get_by_label("Säker", exact=True).check()
    await page.get_by_role("button", name="Svara", exact=True).click()
    await expect(page.locator("#question-h")).not_to_have_text(f"Fråga {qid}")


async def test_the_whole_journey(
    browser: Browser, sdb: Database, model: Model, seeded: Seeded, base_url: str
) -> None:
    check = Checker("journey")
    console: list[str] = []
    context = await browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("console", lambda m: console.append(m.text))
    await sign_in(page, sdb, base_url, "anna@exempelby.se", check)
    await live(page)
    await check(page, "chat-start")

    # section 1 by clicking
    first = model.sections[0]
    for qid in first.questions:
        await answer_by_clicking(page, model, qid)
    await check(page, "section-1-clicked")
    await expect(page.locator("#log")).to_contain_text("Avsnittet Ledningens styrning och kontroll är klart")

    # section 2 by typing, several answers on one line separated by ;
    second = model.sections[1]
    lines = []
    for qid in second.questions:
        q = model.question(qid)
        assert q is not None
        letter = next(o.id for o in q.options if not o.exclusive)
        lines.append(f"{qid} {letter} säker")
    await page.get_by_label("Eller skriv svaret som i ett mejl").fill("; ".join(lines))
    await page.get_by_label("Eller skriv svaret som i ett mejl").press("Enter")
    answered = len(first.questions) + len(second.questions)
    await expect(page.locator("#sidebar .progress .count")).to_have_text(f"{answered}/40")
    await check(page, "section-2-typed")

    # a mistake is explained next to the question
    third = model.sections[2].questions[0]
    await page.get_by_label("Eller skriv svaret som i ett mejl").fill(f"{third} zz säker")
    await page.get_by_role("button", name="Skicka", exact=True).click()
    await expect(page.locator("#q-error")).to_be_visible()
    await check(page, "mistake")

    # reload and resume where we were
    await page.reload()
    await live(page)
    await expect(page.locator("#question-h")).to_have_text(f"Fråga {third}")
    await expect(page.locator("#sidebar .progress .count")).to_have_text(f"{answered}/40")
    await expect(page.locator("#log")).to_contain_text(lines[0])
    await check(page, "reloaded")

    # an answer given by mail appears without reloading
    await handle_turn(
        sdb, model, seeded.response_id, Turn(actor(seeded.respondent), "mail", now(), f"{third} a säker")
    )
    await expect(page.locator("#log")).to_contain_text("bo@exempelby.se via mejl")
    await expect(page.locator("#sidebar .progress .count")).to_have_text(f"{answered + 1}/40")
    await check(page, "mail-arrived")

    # a section opened by hand stays open, with the keyboard focus, when an answer by mail changes it
    fifth = model.sections[4].questions[0]
    await page.locator("#avsnitt-5 summary").click()
    await expect(page.locator("#avsnitt-5")).to_have_attribute("open", "")
    await handle_turn(
        sdb, model, seeded.response_id, Turn(actor(seeded.respondent), "mail", now(), f"{fifth} a säker")
    )
    await expect(page.locator(f'#avsnitt-5 a[data-question="{fifth}"]')).to_have_class("q-answered")
    await expect(page.locator("#avsnitt-5")).to_have_attribute("open", "")
    await expect(page.locator("#avsnitt-5 summary")).to_be_focused()
    await expect(page.locator("#sidebar .progress .count")).to_have_text(f"{answered + 2}/40")

    # jump to an earlier question and change it
    await page.locator("#sidebar summary").first.click()
    await page.locator('a[data-question="1.2"]').click()
    await expect(page.locator("#question-h")).to_have_text("Fråga 1.2")
    await expect(page.locator("#val-a")).to_be_checked()
    await page.locator("#val-c").check()
    await page.get_by_role("button", name="Svara", exact=True).click()
    await expect(page.locator("#log")).to_contain_text("ersätter tidigare svar")
    await check(page, "changed-earlier")

    # klar, with confirmation
    await page.get_by_role("link", name="Klar – poängsätt svaret").click()
    await expect(page.get_by_role("heading", name="Avsluta och poängsätt svaret?")).to_be_visible()
    await check(page, "confirm-klar")
    await page.get_by_role("button", name="Ja, avsluta svaret").click()
    await expect(page.locator("#log")).to_contain_text("har poängsatts")
    await expect(page.locator("#status")).to_contain_text("klar")
    await check(page, "completed")

    # the feedback report, linked from the chat once the response is scored
    await page.get_by_role("link", name="Läs återkopplingen").click()
    await expect(page.locator("h1")).to_contain_text("Återkoppling till")
    await check(page, "feedback-report")

    assert not [c for c in console if "Content Security Policy" in c or "Refused" in c], console
    await context.close()


async def _focus_order(page: Page) -> tuple[list[str], list[str]]:
    """(the controls in document order, one stop per radio group; what Tab actually reached)."""
    describe = """el => el.id ? '#' + el.id : (el.tagName.toLowerCase() + ':' + (el.getAttribute('href') ||
        el.getAttribute('name') || '') + ':' + (el.textContent || el.value || '').trim().slice(0, 30))"""
    expected: list[str] = await page.evaluate(
        f"""() => {{
        const d = {describe};
        const seen = new Set();
        return Array.from(document.querySelectorAll('a[href], button, input, textarea, select, summary, [tabindex="0"]'))
          .filter(el => !el.disabled && el.type !== 'hidden' && el.getClientRects().length > 0
                        && el.getAttribute('tabindex') !== '-1')
          .filter(el => {{
             const box = el.closest('details');
             return !box || box.open || (el.tagName === 'SUMMARY' && el.parentElement === box);
          }})
          .filter(el => {{
             if (el.type !== 'radio') return true;
             if (seen.has(el.name)) return false;
             seen.add(el.name); return true;
          }})
          .map(d);
      }}"""
    )
    await page.locator("body").focus()
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached: list[str] = []
    for _ in range(len(expected)):
        await page.keyboard.press("Tab")
        reached.append(await page.evaluate(f"() => ({describe})(document.activeElement)"))
    return expected, reached


async def test_keyboard_only(browser: Browser, sdb: Database, model: Model, base_url: str) -> None:
    check = Checker("keyboard")
    context = await browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await sign_in(page, sdb, base_url, "anna@exempelby.se", None)
    await live(page)
    expected, reached = await _focus_order(page)
    assert reached == expected
    assert reached[0] == "a:#main:Hoppa till huvudinnehållet"

    # answer 1.1 with the keyboard only: Space ticks, Enter on the button submits
    await page.evaluate("() => document.activeElement.blur()")
    await page.locator("#val-a").focus()
    await page.keyboard.press("Space")
    for _ in range(12):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement.name") == "saker":
            break
    await page.keyboard.press("Space")
    for _ in range(12):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement.value") == "svara":
            break
    await page.keyboard.press("Enter")
    await expect(page.locator("#question-h")).to_have_text("Fråga 1.2")
    assert await page.evaluate("() => document.activeElement.id") == "question-h"
    await check(page, "after-keyboard-answer")

    # Enter in the typed field submits it
    await page.locator("#text").focus()
    await page.keyboard.type("1.2 a säker")
    await page.keyboard.press("Enter")
    await expect(page.locator("#question-h")).to_have_text("Fråga 2.1")

    # skip link moves focus to the main content
    await page.keyboard.press("Shift+Tab")
    await page.locator(".skip").focus()
    await page.keyboard.press("Enter")
    assert await page.evaluate("() => document.activeElement.id") == "main"
    await context.close()


async def test_narrow_screen_and_zoom(browser: Browser, sdb: Database, base_url: str) -> None:
    check = Checker("narrow")
    # 320 CSS pixels wide: what 1280 px looks like at 400 % zoom, so 200 % is covered too
    context = await browser.new_context(locale="sv-SE", viewport={"width": 320, "height": 640})
    page = await context.new_page()
    await sign_in(page, sdb, base_url, "anna@exempelby.se", None)
    await check(page, "chat-320px")
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await context.close()


async def test_javascript_off(
    browser: Browser, sdb: Database, model: Model, seeded: Seeded, base_url: str
) -> None:
    context = await browser.new_context(locale="sv-SE", java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, sdb, base_url, "anna@exempelby.se", None)
    assert await page.locator("#chat").get_attribute("data-live") is None
    await answer_by_clicking(page, model, "1.1")
    assert re.search(r"/svar/\d+#m\d+$", page.url)
    await expect(page.locator("#log")).to_contain_text("Registrerat")
    await page.get_by_label("Eller skriv svaret som i ett mejl").fill("1.2 hoppa över")
    await page.get_by_role("button", name="Skicka", exact=True).click()
    await expect(page.locator("#question-h")).to_have_text("Fråga 2.1")
    await context.close()


async def test_manager_and_english(browser: Browser, sdb: Database, base_url: str) -> None:
    check = Checker("manager-en")
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await sign_in(page, sdb, base_url, "chef@exempelby.se", None)
    await page.get_by_role("link", name="In English").click()
    await expect(page.locator("#question-h")).to_have_text("Question 1.1")
    assert await page.locator("html").get_attribute("lang") == "en"
    assert await page.get_by_role("button", name="Answer", exact=True).count() == 0
    await check(page, "manager-english")
    await context.close()
