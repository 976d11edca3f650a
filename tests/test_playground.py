"""The playground in a real browser: headless Chromium (Debian's) driven by Playwright.

Everything runs as `cflow-bot playground` runs it: the sandbox, the Slack stand-in,
the bot and the page, each on a loopback port; the page's clicks, submissions and
commands reach the bot as signed Slack payloads.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from bot.devtools.playground.page import page_app
from bot.devtools.playground.world import REQUEST_LINKS, World, running_world

pytestmark = pytest.mark.slow  # every test here takes seconds

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "playground.png"
WAIT = 20_000  # ms: a poll cycle, then Slack's pacing
HOSTILE = {
    "Title": "<script>window.pwned = 1</script>",
    "Notes": '"><img src=x onerror="window.pwned = 2">',
    "Link": "<javascript:window.pwned=3|click me>",
}


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with running_world(poll_interval=0.3) as running:
        yield running


@pytest.fixture
async def url(world: World) -> AsyncIterator[str]:
    runner = web.AppRunner(page_app(world), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/"
    await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        message = "no chromium: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, url: str) -> AsyncIterator[Page]:
    opened = await browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    await opened.goto(url)
    yield opened
    await opened.close()
    assert problems == [], "the page's script failed"


def card(page: Page, title: str) -> Locator:
    """The message in the open conversation whose header is `title`."""
    return page.locator("#messages article.message").filter(has_text=title).first


async def act_as(page: Page, name: str) -> None:
    await page.select_option("#person", label=name)


async def test_alice_approves_a_card_and_watches_it_update(page: Page, world: World) -> None:
    leave = card(page, "Leave Request · #105")
    await expect(leave).to_be_visible(timeout=WAIT)
    await expect(card(page, "Expense Claim · #103")).to_be_visible(timeout=WAIT)
    shot = await page.screenshot()  # the README's picture: kept when asked, or when none
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)
    await leave.locator("button.bk-button", has_text="Approve").click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.click("#confirm-yes")
    await expect(leave).to_contain_text("Approved", timeout=WAIT)
    await expect(leave.locator("button", has_text="Approve")).to_have_count(0)
    assert world.sandbox.get_request("1003", "105").status == "approved"
    await leave.locator("[data-thread]").click()
    await expect(page.locator("#thread-messages")).to_contain_text("alice", timeout=WAIT)
    await page.click(".conv[data-conversation='dm']")  # dave, the submitter, is told
    await act_as(page, "dave")
    await expect(page.locator("#messages")).to_contain_text("approved", timeout=WAIT)


async def test_bob_rejects_with_a_reason_in_the_modal(page: Page, world: World) -> None:
    await act_as(page, "bob")
    expense = card(page, "Expense Claim · #103")
    await expense.locator("button.bk-button", has_text="Reject").click()
    modal = page.locator("#modal-layer form.modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    await modal.locator("textarea").fill("   ")  # the browser lets spaces through; the bot not
    await modal.locator("[data-view-action='submit']").click()
    await expect(modal.locator(".bk-error")).to_be_visible(timeout=WAIT)
    await modal.locator("textarea").fill("No receipt attached")
    await modal.locator("[data-view-action='submit']").click()
    await expect(page.locator("#modal-layer")).to_be_hidden(timeout=WAIT)
    await expect(expense).to_contain_text("Rejected", timeout=WAIT)
    request = world.sandbox.get_request("1001", "103")
    assert request.status == "rejected"
    assert any(entry.comment == "No receipt attached" for entry in request.history)


async def test_cflow_pending_answers_privately(page: Page) -> None:
    await act_as(page, "bob")
    await page.fill("#line", "/cflow pending")
    await page.press("#line", "Enter")
    answer = page.locator("#messages article.bk-ephemeral").last
    await expect(answer).to_contain_text("Waiting for you", timeout=WAIT)
    await expect(answer).to_contain_text("Only visible to you")
    await act_as(page, "carol")
    await expect(page.locator("#messages")).not_to_contain_text("Waiting for you")


async def test_a_person_typed_with_at_reaches_the_bot_as_slack_sends_it(page: Page) -> None:
    await act_as(page, "bob")
    last_day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    await page.fill("#line", f"/cflow away until {last_day} to @carol")
    await page.press("#line", "Enter")
    answer = page.locator("#messages article.bk-ephemeral").last
    await expect(answer).to_contain_text("handed to @carol in Cflow", timeout=WAIT)


async def test_a_request_made_in_the_cflow_panel_gets_its_card(page: Page) -> None:
    await page.click("#open-cflow")
    await page.select_option("#new-workflow", label="Expense Claim")
    await page.fill("#new-title", "Playground lunch")
    await page.click("#new-request button[type='submit']")
    await expect(page.locator("#cflow-said")).to_contain_text("Done in Cflow")
    fresh = page.locator("#messages article.message").filter(has_text="Playground lunch")
    await expect(fresh).to_be_visible(timeout=WAIT)
    await expect(fresh.locator("button.bk-button", has_text="Approve")).to_be_visible()


async def test_hostile_text_from_cflow_renders_as_text(page: Page, world: World) -> None:
    made = world.sandbox.add_request("1001", HOSTILE, "dave")
    hostile = card(page, f"#{made.id}")
    await expect(hostile).to_be_visible(timeout=WAIT)
    await expect(hostile).to_contain_text("<script>window.pwned = 1</script>")
    await expect(hostile).to_contain_text('"><img src=x onerror=')
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("#messages img[onerror]").count() == 0
    assert await page.locator("#messages script").count() == 0
    assert await page.locator("#messages a[href^='javascript']").count() == 0


async def test_the_home_tab_is_published_when_opened(page: Page) -> None:
    await page.click(".conv[data-conversation='home']")
    await expect(page.locator("#messages section.home")).to_contain_text("alice", timeout=WAIT)
    await act_as(page, "carol")
    await expect(page.locator("#messages section.home")).to_contain_text("carol", timeout=WAIT)


async def test_a_wrong_key_is_an_error_inside_the_link_modal(page: Page) -> None:
    await page.fill("#line", "/cflow link")
    await page.press("#line", "Enter")
    modal = page.locator("#modal-layer form.modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    inputs = modal.locator("input.bk-text-input, textarea")
    await inputs.nth(0).fill("alice")
    await inputs.nth(1).fill("not-alices-key")
    await modal.locator("[data-view-action='submit']").click()
    refused = "Cflow did not accept this username and user key"
    await expect(page.locator("#modal-layer form.modal")).to_contain_text(refused, timeout=WAIT)
    assert "not-alices-key" not in await page.content(), "the key is not echoed back"


async def test_settings_change_in_the_home_tab_and_a_digest_arrives(page: Page) -> None:
    await act_as(page, "bob")
    await page.click(".conv[data-conversation='home']")
    home = page.locator("#messages section.home")
    await expect(home).to_contain_text("Your settings", timeout=WAIT)
    await expect(home).to_contain_text("A DM for each request")
    await home.locator("button.bk-button", has_text="Change").click()
    modal = page.locator("#modal-layer form.modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    await modal.get_by_text("One digest a day").click()
    await modal.locator("input.bk-timepicker").first.fill("08:15")
    await modal.locator("[data-view-action='submit']").click()
    await expect(page.locator("#modal-layer")).to_be_hidden(timeout=WAIT)
    await expect(home).to_contain_text("One digest a day at 08:15", timeout=WAIT)
    await page.click(".conv[data-conversation='dm']")
    await page.fill("#line", "/cflow digest")
    await page.press("#line", "Enter")
    digest = page.locator("#messages article.message").filter(has_text="Cflow digest").last
    await expect(digest).to_be_visible(timeout=WAIT)
    await expect(digest.locator("button.bk-button", has_text="Approve").first).to_be_visible()


async def test_bobs_oldest_request_reminds_him_and_he_puts_it_off(page: Page) -> None:
    await act_as(page, "bob")
    await page.click(".conv[data-conversation='dm']")
    reminder = page.locator("#messages article.message").filter(has_text="Reminder").first
    await expect(reminder).to_be_visible(timeout=WAIT)
    await expect(reminder).to_contain_text("#103")
    await reminder.locator("button.bk-button", has_text="Remind me in 1 hour").click()
    answer = page.locator("#messages article.bk-ephemeral").last
    await expect(answer).to_contain_text("I'll remind you again", timeout=WAIT)
    await page.fill("#line", "/cflow stats")
    await page.press("#line", "Enter")
    stats = page.locator("#messages article.bk-ephemeral").filter(has_text="How long").last
    await expect(stats).to_contain_text("Expense Claim", timeout=WAIT)
    await expect(stats).to_contain_text("decided, median")


async def test_the_oldest_purchase_order_is_escalated_in_its_thread(page: Page) -> None:
    await page.click(".conv[data-conversation='C0PURCHASING']")
    order = card(page, "Purchase Order · #104")
    await expect(order).to_be_visible(timeout=WAIT)
    await expect(order.locator("[data-thread]")).to_be_visible(timeout=WAIT)
    await order.locator("[data-thread]").click()
    await expect(page.locator("#thread-messages")).to_contain_text("Waiting 3 days", timeout=WAIT)
    await expect(page.locator("#thread-messages")).to_contain_text("alice")


# Purchase orders' demo policy: over 10,000 decided in Cflow only, no self-approval, a
# reason to reject, undo 10 s (seeded by alice; bot.devtools.playground.world).
RULES = "No self-approval · Undo 10 s"
OWN = "You cannot approve or reject your own request"


async def test_purchase_orders_over_10000_are_decided_in_cflow(page: Page) -> None:
    await page.click(".conv[data-conversation='C0PURCHASING']")
    large = card(page, "Purchase Order · #108")
    await expect(large).to_be_visible(timeout=WAIT)
    await expect(large).to_contain_text("🌐 Amount over 10,000: decide in Cflow")
    await expect(large).to_contain_text(RULES)
    await expect(large.locator("a.bk-button", has_text="Open in Cflow")).to_be_visible()
    await expect(large.locator(".bk-button", has_text="Approve")).to_have_count(0)
    await expect(large.locator(".bk-button", has_text="Reject")).to_have_count(0)
    small = card(page, "Purchase Order · #104")
    await expect(small).to_contain_text(RULES)
    await expect(small).not_to_contain_text("decide in Cflow")
    await expect(small.locator("button.bk-button", has_text="Approve")).to_be_visible()
    await expect(small.locator("button.bk-button", has_text="Reject")).to_be_visible()


async def test_rejecting_a_purchase_order_needs_a_reason(page: Page, world: World) -> None:
    await act_as(page, "bob")
    await page.click(".conv[data-conversation='C0PURCHASING']")
    order = card(page, "Purchase Order · #104")
    await expect(order).to_contain_text(RULES, timeout=WAIT)
    await order.locator("button.bk-button", has_text="Reject").click()
    modal = page.locator("#modal-layer form.modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    reason = modal.locator("textarea")
    await expect(modal.locator(".bk-optional")).to_have_count(0)
    await modal.locator("[data-view-action='submit']").click()  # blank: as Slack, no send
    assert await reason.evaluate("element => element.validity.valueMissing")
    await expect(modal).to_be_visible()
    await reason.fill("   ")  # what the browser lets through, the bot refuses in the modal
    await modal.locator("[data-view-action='submit']").click()
    await expect(modal.locator(".bk-error")).to_be_visible(timeout=WAIT)
    assert world.sandbox.get_request("1002", "104").status == "pending"
    await reason.fill("Order it from the framework supplier")
    await modal.locator("[data-view-action='submit']").click()
    await expect(page.locator("#modal-layer")).to_be_hidden(timeout=WAIT)
    await expect(order).to_contain_text("Rejected", timeout=WAIT)
    request = world.sandbox.get_request("1002", "104")
    assert request.status == "rejected"
    assert any(entry.comment == "Order it from the framework supplier" for entry in request.history)


async def test_carol_cannot_decide_her_own_purchase_order(page: Page, world: World) -> None:
    await act_as(page, "carol")
    await page.click(".conv[data-conversation='C0PURCHASING']")
    own = card(page, "Purchase Order · #109")
    await expect(own).to_contain_text(RULES, timeout=WAIT)
    before = await own.inner_text()
    await own.locator("button.bk-button", has_text="Approve").click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.click("#confirm-yes")
    answer = page.locator("#messages article.bk-ephemeral").filter(has_text=OWN)
    await expect(answer).to_have_count(1, timeout=WAIT)
    await expect(answer).to_contain_text("Only visible to you")
    await own.locator("button.bk-button", has_text="Reject").click()  # no reason asked
    await expect(answer).to_have_count(2, timeout=WAIT)
    await expect(page.locator("#modal-layer form.modal")).to_have_count(0)
    assert await own.inner_text() == before, "the card is as it was"
    request = world.sandbox.get_request("1002", "109")
    assert request.status == "pending"
    assert [entry.action for entry in request.history] == ["submitted", "approved"]
    await act_as(page, "alice")  # the answer was carol's alone
    await expect(page.locator("#messages")).not_to_contain_text(OWN)


async def test_an_admin_sees_the_purchase_order_policy_and_who_set_it(page: Page) -> None:
    await page.fill("#line", "/cflow policy Purchase Order")
    await page.press("#line", "Enter")
    answer = page.locator("#messages article.bk-ephemeral").filter(has_text="Policy of").last
    await expect(answer).to_contain_text("Policy of Purchase Order", timeout=WAIT)
    for shown in ("Amount > 10,000", "block", "10 s", "reject"):
        await expect(answer).to_contain_text(shown)
    for setting in ("self-approval to block", "web-only to Amount > 10,000", "undo to 10 s"):
        await expect(answer).to_contain_text(f"@alice set {setting}")
    await act_as(page, "bob")
    await page.fill("#line", "/cflow policy Purchase Order")
    await page.press("#line", "Enter")
    refused = page.locator("#messages article.bk-ephemeral").last
    await expect(refused).to_contain_text("Only the bot's admins", timeout=WAIT)


async def test_hostile_field_names_in_a_policy_render_as_text(page: Page, world: World) -> None:
    field = "<b>Total</b> & <!channel>"  # a field name from Cflow, typed by the admin
    world.sandbox.add_request("1001", {"Title": "Known field", field: 1}, "dave")
    await expect(card(page, "Known field")).to_be_visible(timeout=WAIT)
    await page.fill("#line", f"/cflow policy Expense Claim web-only {field} > 5")
    await page.press("#line", "Enter")
    changed = page.locator("#messages article.bk-ephemeral").filter(has_text="web-only is now")
    await expect(changed).to_contain_text(f"{field} > 5", timeout=WAIT)
    made = world.sandbox.add_request("1001", {"Title": "Over the limit", field: 50}, "dave")
    over = card(page, f"Expense Claim · #{made.id}")
    await expect(over).to_contain_text(
        "<b>total</b> & <!channel> over 5: decide in Cflow", timeout=WAIT
    )
    await expect(over.locator("button.bk-button", has_text="Approve")).to_have_count(0)
    made_bold = page.locator("#messages b").filter(has_text=re.compile(r"^total$", re.I))
    assert await made_bold.count() == 0, "the field's <b> stays text"
    assert "&lt;b&gt;total&lt;/b&gt; &amp; &lt;!channel&gt;" in await over.inner_html()
    assert await page.locator("#messages .mention", has_text="@channel").count() == 0


STEP_SCREENSHOT = SCREENSHOT.parent / "workflow-step.png"
RUNNER_SCREENSHOT = SCREENSHOT.parent / "workflow-step-runs-as-you.png"


async def test_the_workflow_builder_panel_runs_the_step_until_bob_decides(
    page: Page, world: World
) -> None:
    """The step as a workflow runs it: dave runs the workflow, so his request goes to
    Cflow (the step's submitter is Slack's user context of who runs it: the panel offers
    no choice of anyone else), the run waits, bob approves on the card in Slack, and the
    run shows the outputs the bot completed with."""
    await page.click("#open-steps")
    await expect(page.locator("#step-runner")).to_have_text("alice")  # who the page is
    await expect(page.locator("#run-step select, #step-submitter")).to_have_count(0)
    await act_as(page, "dave")
    await expect(page.locator("#step-runner")).to_have_text("dave")
    await page.fill("#step-workflow", "expense claim")
    await page.fill("#step-fields", "Title: Conference ticket\nAmount: 420")
    await page.click("#run-step button[type='submit']")
    runs = page.locator("#step-runs li")
    await expect(runs.first).to_contain_text("waiting for the decision", timeout=WAIT)
    await expect(runs.first).to_contain_text("for dave")
    context = world.slack.functions.latest().inputs["submitter"]
    assert context["id"] == "U0DAVE" and context["secret"]  # Slack's user_context
    shot = await page.screenshot()  # the step run as the person the page acts as
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not RUNNER_SCREENSHOT.exists():
        RUNNER_SCREENSHOT.write_bytes(shot)
    ticket = card(page, "Conference ticket")
    await act_as(page, "bob")
    await page.click(".conv[data-conversation='C0APPROVALS']")
    await expect(ticket).to_be_visible(timeout=WAIT)
    await ticket.locator("button.bk-button", has_text="Approve").click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.click("#confirm-yes")
    await expect(runs.first).to_contain_text("completed", timeout=WAIT)
    await expect(runs.first).to_contain_text("status: approved")
    await expect(runs.first).to_contain_text("decided_by: bob")
    request_id = world.slack.functions.latest().outputs["request_id"]  # type: ignore[index]
    assert world.sandbox.get_request("1001", request_id).submitted_by == "dave"
    shot = await page.screenshot()  # the README's picture of the step: kept when asked
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not STEP_SCREENSHOT.exists():
        STEP_SCREENSHOT.write_bytes(shot)


async def test_the_workflow_builder_panel_shows_why_a_step_failed(page: Page) -> None:
    await page.click("#open-steps")
    await page.fill("#step-workflow", "Purchase Order")
    await page.fill("#step-fields", "Amount: 300")
    await page.click("#run-step button[type='submit']")
    runs = page.locator("#step-runs li")
    await expect(runs.first).to_contain_text("failed", timeout=WAIT)
    await expect(runs.first).to_contain_text("for alice")  # who the page acts as
    await expect(runs.first).to_contain_text(
        "error: Cflow refused the request: Field 'Vendor' is required"
    )


UNFURL_SCREENSHOT = SCREENSHOT.parent / "unfurls.png"


async def test_a_pasted_request_link_unfurls_with_working_buttons(page: Page, world: World) -> None:
    """bob pastes a link to a request: the composer previews it; sent, the message shows
    the request's card under it, whose Approve works as on any card."""
    await act_as(page, "bob")
    url = REQUEST_LINKS.format(workflow_id="1001", request_id="103")
    await page.locator("#line").fill(f"Can we settle this one today? {url}")
    drafted = page.locator("#composer-preview .bk-unfurl")
    await expect(drafted).to_contain_text("Expense Claim · #103", timeout=WAIT)
    await page.locator("#composer button[type=submit]").click()
    await expect(page.locator("#composer-preview")).to_be_hidden()
    shared = page.locator("#messages article.message").filter(has_text="settle this one")
    await expect(shared.locator(".bk-author")).to_have_text("bob")
    await expect(shared.locator(".bk-app-badge")).to_have_count(0)  # bob's own message
    unfurl = shared.locator(".bk-unfurl")
    await expect(unfurl).to_contain_text("Waiting for", timeout=WAIT)
    await expect(unfurl.locator("button.bk-button", has_text="Approve")).to_be_visible()
    await unfurl.scroll_into_view_if_needed()
    shot = await page.screenshot()  # the README's picture of previews
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not UNFURL_SCREENSHOT.exists():
        UNFURL_SCREENSHOT.parent.mkdir(exist_ok=True)
        UNFURL_SCREENSHOT.write_bytes(shot)
    await unfurl.locator("button.bk-button", has_text="Approve").click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.click("#confirm-yes")
    await expect(unfurl).to_contain_text("Approved", timeout=WAIT)
    await expect(unfurl.locator("button", has_text="Approve")).to_have_count(0)
    assert world.sandbox.get_request("1001", "103").status == "approved"
    await expect(shared.locator(".bk-message-body")).to_contain_text("settle this one")


SHORTCUT_SCREENSHOT = SCREENSHOT.parent / "shortcut.png"


async def test_dave_turns_carols_message_into_a_request_and_its_thread_follows_it(
    page: Page, world: World
) -> None:
    await act_as(page, "dave")
    message = card(page, "two 27")
    await expect(message).to_be_visible(timeout=WAIT)
    await message.locator(".bk-message-menu > summary").click()
    await message.locator("[data-shortcut]", has_text="Request approval").click()
    modal = page.locator("#modal-layer form.modal")
    await expect(modal.locator("select")).to_be_visible(timeout=WAIT)
    await modal.locator("select").select_option(label="Expense Claim")
    await modal.locator("[data-view-action='submit']").click()
    await expect(modal).to_contain_text("Slack message", timeout=WAIT)
    first = modal.locator("[data-input] >> nth=0")
    await expect(first).to_have_value(re.compile(r"^@bob could the design team .* & tax\.$"))
    shot = await page.screenshot()
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SHORTCUT_SCREENSHOT.exists():
        SHORTCUT_SCREENSHOT.write_bytes(shot)
    await modal.locator("[data-view-action='submit']").click()
    await expect(modal).to_contain_text("Sent", timeout=WAIT)
    await modal.locator("[data-view-action='close']").click()
    request = max(world.sandbox.requests["1001"].values(), key=lambda r: int(r.id))
    assert request.submitted_by == "dave" and "/archives/" in request.fields["Slack message"]
    await expect(message.locator("[data-thread]")).to_have_text("1 reply", timeout=WAIT)
    await message.locator("[data-thread]").click()
    thread = page.locator("#thread-messages")
    await expect(thread).to_contain_text(f"Expense Claim #{request.id}", timeout=WAIT)
    await expect(page.locator("#messages")).to_contain_text(f"#{request.id}", timeout=WAIT)
    world.sandbox.approve("1001", request.id, "bob", "Fine")  # in Cflow's own app
    await expect(thread).to_contain_text("Approved", timeout=WAIT)


async def test_the_global_shortcut_opens_the_workflow_picker(page: Page) -> None:
    await act_as(page, "alice")
    await page.click("#global-shortcut")
    modal = page.locator("#modal-layer form.modal")
    await expect(modal.locator("select")).to_be_visible(timeout=WAIT)
    await modal.locator("select").select_option(label="Leave Request")
    await modal.locator("[data-view-action='submit']").click()
    await expect(modal).to_contain_text("When I press Send", timeout=WAIT)
    await expect(modal).not_to_contain_text("Slack message")
