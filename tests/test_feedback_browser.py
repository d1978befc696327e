"""The feedback report in a real browser: screenshots of every level, axe on the web page.

For each example organisation (levels 0–4) the mail's HTML (with its CID charts as data
URLs, as a mail client shows them) is rendered in headless Chromium at a phone's width and
at a desktop width, and the web page variant at both; screenshots go to
``test-artifacts/feedback-browser/`` for people to look at. axe-core must find nothing on
the web page, and neither variant may scroll sideways on a phone.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from bot.feedback.render import render_feedback
from bot.settings import Settings
from conversations.questionnaire import load_model
from scoring.feedback import feedback_facts
from tests.test_feedback import CYCLE, ORG, result
from tests.test_web_e2e import AXE, CHROMIUM_FLAGS

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "feedback-browser"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            await b.close()


def rendered(level: int, lang: str, for_mail: bool) -> str:
    model = load_model()
    settings = Settings(secret_key="x", base_url="https://infosakkollen.example.se")
    facts = feedback_facts(model, result(level), method_support_url=settings.method_support_url)
    out = render_feedback(
        model, facts, organisation_name=ORG, cycle_name=CYCLE, lang=lang, settings=settings, for_mail=for_mail,
        submit_url=None if for_mail else "https://infosakkollen.example.se/skicka-in",
    )  # fmt: skip
    html = out.html
    for cid, png in out.images.items():
        html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())
    return html


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
async def test_report_in_chromium(browser: Browser, level: int, lang: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for variant, for_mail in (("mail", True), ("web", False)):
        html = rendered(level, lang, for_mail)
        for width in (390, 900):
            page = await browser.new_page(viewport={"width": width, "height": 900})
            await page.set_content(html, wait_until="load")
            await page.screenshot(
                path=str(ARTIFACTS / f"level{level}-{lang}-{variant}-{width}.png"), full_page=True
            )
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{variant} at {width}px scrolls sideways by {overflow}px"
            if variant == "web":
                await page.evaluate(AXE.read_text())
                found = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
                violations = [f"{v['id']}: {v['help']}" for v in found["violations"]]
                assert violations == [], violations
            await page.close()
