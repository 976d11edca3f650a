"""The playground's renderer: Block Kit and mrkdwn as HTML, as the page's script reads it.

Payloads come from the bot's real builders wherever the bot builds that block or
element, so the page shows what Slack would; the data attributes are parsed back as
JSON, and the output is parsed as HTML (not searched as text) to show that nothing a
payload holds becomes a tag, an event handler or a javascript: link.
"""

from __future__ import annotations

import json
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.blocks.card import request_card
from bot.blocks.card_actions import approve_confirm, card_ref
from bot.blocks.card_view import CardView
from bot.blocks.home import HomeDesk, home_view
from bot.blocks.ids import Action, Input, MoreOption, View
from bot.blocks.modals import link_modal, reassign_modal, reject_modal
from bot.blocks.primitives import button, section
from bot.blocks.request_forms import FormTarget, request_form
from bot.blocks.roundup_items import RoundupItem
from bot.blocks.roundups import grouped_dm
from bot.devtools.playground.mrkdwn import Names, mrkdwn_html, plain_text_html
from bot.devtools.playground.render import blocks_html, message_html, view_html
from bot.domain.refs import RequestRef
from tests.factories import NOW, make_request, make_workflow

NAMES = Names(users={"U1": "alice", "UBOT": "Cflow"}, channels={"C1": "approvals"})
SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
QUOTE_BREAKOUT = "'><img src=x onerror=alert(1)>"
JS_URL = "javascript:alert(1)"
MRKDWN_TAGS = {"b", "i", "s", "code", "pre", "blockquote", "ul", "li", "br", "a", "span"}
PAGE_TAGS = MRKDWN_TAGS | {
    "article", "header", "footer", "time", "div", "h1", "h2", "hr", "img", "form", "label",
    "input", "textarea", "select", "option", "optgroup", "button", "details", "summary",
    "section", "ol",
}  # fmt: skip
VOID = {"br", "hr", "img", "input"}

# --- Factories ----------------------------------------------------------------------------


def card(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"request": make_request(), "workflow": make_workflow(), "now": NOW}
    return request_card(CardView(**(view | overrides)))


def message(payload: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A message as the Slack stand-in stores it."""
    return {"ts": "1714737600.000100", "user": "UBOT", "blocks": None} | payload | overrides


def ref() -> RequestRef:
    return RequestRef(workflow_id="w1", request_id="103", stage="s2")


# --- Reading the HTML back ----------------------------------------------------------------


class Page(HTMLParser):
    """Every start tag with its attributes, the text, and whether tags nest properly."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.open: list[str] = []
        self.balanced = True
        self.feed(markup)
        self.close()
        self.balanced = self.balanced and not self.open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def having(self, attribute: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.tags if attribute in attrs]

    def json_of(self, attribute: str) -> list[Any]:
        return [json.loads(attrs[attribute]) for attrs in self.having(attribute)]

    def named(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]


def assert_inert(markup: str, allowed: set[str] = PAGE_TAGS) -> Page:
    """Only our tags, no handler, no script URL, and every tag closed in order."""
    page = Page(markup)
    assert {tag for tag, _ in page.tags} <= allowed
    for _, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")]
        assert "style" not in attrs
        for name in ("href", "src", "action", "formaction"):
            assert not attrs.get(name, "").strip().lower().startswith(("javascript:", "data:"))
    assert page.balanced
    return page


def action(page: Page, action_id: str) -> dict[str, Any]:
    return next(a for a in page.json_of("data-action") if a["action_id"] == action_id)


def tag_with_action(page: Page, action_id: str) -> tuple[str, dict[str, str]]:
    return next(
        (tag, attrs)
        for tag, attrs in page.tags
        if "data-action" in attrs and json.loads(attrs["data-action"])["action_id"] == action_id
    )


# --- The request card ---------------------------------------------------------------------


def test_card_buttons_carry_their_action_block_and_value() -> None:
    payload = card()
    page = assert_inert(message_html(message(payload), NAMES))
    value = card_ref(make_request(), make_workflow()).encode()
    approve, reject = action(page, Action.APPROVE), action(page, Action.REJECT)
    actions_block = next(b for b in payload["blocks"] if b["type"] == "actions")
    for clicked, label in ((approve, "Approve"), (reject, "Reject")):
        assert clicked["type"] == "button"
        assert clicked["value"] == value
        assert clicked["block_id"] == actions_block["block_id"]
        assert clicked["text"]["text"] == label
    assert actions_block["block_id"] in [a["data-block-id"] for a in page.having("data-block-id")]


def test_approve_asks_first_and_reject_does_not() -> None:
    page = assert_inert(message_html(message(card()), NAMES))
    _, approve = tag_with_action(page, Action.APPROVE)
    _, reject = tag_with_action(page, Action.REJECT)
    assert json.loads(approve["data-confirm"]) == approve_confirm("Purchase Order #103")
    assert "data-confirm" not in reject
    assert approve["class"] == "bk-button bk-primary"
    assert reject["class"] == "bk-button bk-danger"


def test_overflow_menu_offers_each_option_as_json() -> None:
    payload = card()
    page = assert_inert(message_html(message(payload), NAMES))
    more = action(page, Action.MORE)
    assert more["type"] == "overflow"
    assert more["block_id"] == card_ref(make_request(), make_workflow()).encode()
    options = page.json_of("data-option")
    assert [o["value"] for o in options] == [MoreOption.APPROVE_WITH_COMMENT, MoreOption.REASSIGN]
    assert options[0]["text"]["text"] == "Approve with comment…"


def test_open_in_cflow_is_a_link_that_still_reports_the_click() -> None:
    page = assert_inert(message_html(message(card(cflow_url="https://cflow.example/r/103")), NAMES))
    tag, attrs = tag_with_action(page, Action.OPEN_IN_CFLOW)
    assert tag == "a"
    assert attrs["href"] == "https://cflow.example/r/103"
    assert attrs["rel"] == "noopener noreferrer" and attrs["target"] == "_blank"


def test_a_button_whose_url_is_not_http_is_a_plain_button() -> None:
    blocks = [{"type": "actions", "elements": [button("Go", "go", url=JS_URL)]}]
    page = assert_inert(blocks_html(blocks, NAMES))
    tag, attrs = tag_with_action(page, "go")
    assert tag == "button" and "href" not in attrs


def test_card_header_status_and_fields_grid() -> None:
    page = assert_inert(message_html(message(card()), NAMES))
    assert "Purchase Order · #103" in page.text
    fields = [a for a in page.named("div") if a.get("class") == "bk-field"]
    assert len(fields) == 2
    assert page.named("div")[0]["class"] == "bk-message-body"
    assert "Waiting for carol at Finance review" in page.text


def test_blocks_without_an_id_get_a_stable_one_per_message() -> None:
    blocks = home_view(HomeDesk(NOW))["blocks"]
    first = Page(blocks_html(blocks, NAMES, block_ids_of="1.1")).json_of("data-action")
    again = Page(blocks_html(blocks, NAMES, block_ids_of="1.1")).json_of("data-action")
    other = Page(blocks_html(blocks, NAMES, block_ids_of="2.2")).json_of("data-action")
    assert first == again
    assert first[0]["block_id"] != other[0]["block_id"]


# --- Modals -------------------------------------------------------------------------------


def test_reject_modal_is_a_form_with_a_multiline_reason() -> None:
    view = reject_modal(ref(), "Purchase Order #103") | {"id": "V123"}
    page = assert_inert(view_html(view, NAMES))
    form = page.named("form")[0]
    assert form["class"] == "modal"
    assert form["data-view-id"] == "V123"
    assert form["data-callback-id"] == View.REJECT
    textarea = page.named("textarea")[0]
    assert json.loads(textarea["data-input"]) == {
        "block_id": Input.REASON,
        "action_id": Input.REASON,
        "type": "plain_text_input",
    }
    assert textarea["maxlength"] == "3000"
    assert textarea["placeholder"] == "Tell the submitter why"
    assert "required" in textarea
    buttons = {a["data-view-action"]: a for a in page.having("data-view-action")}
    assert buttons["submit"]["type"] == "submit" and buttons["close"]["type"] == "button"
    assert "Reject request" in page.text and "Cancel" in page.text
    assert not page.having("data-action")


def test_modal_shows_each_error_under_its_block() -> None:
    view = link_modal("bob")
    markup = view_html(view, NAMES, errors={Input.USER_KEY: "Cflow refused this key"})
    page = assert_inert(markup)
    errored = [a for a in page.having("data-block-id") if "bk-has-error" in a["class"]]
    assert [a["data-block-id"] for a in errored] == [Input.USER_KEY]
    assert "Cflow refused this key" in page.text
    username = next(a for a in page.named("input") if Input.CFLOW_USERNAME in a["data-input"])
    assert username["value"] == "bob"
    assert "In Cflow: Profile > API Key > UserKey." in page.text


def test_optional_input_is_flagged_and_not_required() -> None:
    view = reassign_modal(ref(), "PO")
    page = assert_inert(view_html(view, NAMES))
    comment = next(a for a in page.named("textarea") if Input.COMMENT in a["data-input"])
    assert "required" not in comment
    assert "(optional)" in page.text


def test_reassign_modal_offers_the_workspaces_members() -> None:
    page = assert_inert(view_html(reassign_modal(ref(), "PO"), NAMES))
    select = page.named("select")[0]
    assert json.loads(select["data-input"])["type"] == "users_select"
    assert [o.get("value") for o in page.named("option")] == ["", "U1", "UBOT"]  # Slack's list


def test_request_form_inputs_and_send_mode_radios() -> None:
    target = FormTarget(workflow_id="w1", names=["Vendor", "Amount"])
    view = request_form(make_workflow(), target, {"Vendor": "ACME"})
    page = assert_inert(view_html(view, NAMES))
    inputs = {json.loads(a["data-input"])["block_id"]: a for a in page.having("data-input")}
    assert inputs["f0"]["value"] == "ACME" and inputs["f1"]["value"] == ""
    assert json.loads(inputs["mode"]["data-input"])["type"] == "radio_buttons"
    radios = page.named("input")[-2:]
    assert [r["type"] for r in radios] == ["radio", "radio"]
    assert [json.loads(r["data-option"])["value"] for r in radios] == ["submit", "draft"]
    assert "checked" in radios[0] and "checked" not in radios[1]
    assert radios[0]["name"] == radios[1]["name"]


def input_block(element: dict[str, Any], **block: Any) -> dict[str, Any]:
    label = {"type": "plain_text", "text": "Pick"}
    return {"type": "input", "block_id": "b", "label": label, "element": element} | block


OPTIONS = [
    {"text": {"type": "plain_text", "text": "One"}, "value": "1"},
    {"text": {"type": "plain_text", "text": "Two"}, "value": "2"},
]


def test_static_select_in_an_input_keeps_its_initial_option() -> None:
    element = {"type": "static_select", "action_id": "a", "options": OPTIONS}
    element["initial_option"] = OPTIONS[1]
    page = assert_inert(blocks_html([input_block(element)], NAMES))
    options = page.named("option")
    assert "selected" in options[2] and "selected" not in options[0]
    assert json.loads(options[2]["data-option"]) == OPTIONS[1]


def test_checkboxes_datepicker_users_and_number_inputs() -> None:
    elements = [
        {
            "type": "checkboxes",
            "action_id": "c",
            "options": OPTIONS,
            "initial_options": [OPTIONS[0]],
        },
        {"type": "datepicker", "action_id": "d", "initial_date": "2024-05-03"},
        {"type": "users_select", "action_id": "u", "initial_user": "U1"},
        {"type": "number_input", "action_id": "n", "is_decimal_allowed": False, "min_value": "1"},
    ]
    blocks = [input_block(e, block_id=f"b{i}") for i, e in enumerate(elements)]
    page = assert_inert(blocks_html(blocks, NAMES))
    declared = page.json_of("data-input")
    assert [d["type"] for d in declared] == [e["type"] for e in elements]
    assert [d["block_id"] for d in declared] == ["b0", "b1", "b2", "b3"]
    boxes = [a for a in page.named("input") if a["type"] == "checkbox"]
    assert ["checked" in box for box in boxes] == [True, False]
    date = next(a for a in page.named("input") if a["type"] == "date")
    assert date["value"] == "2024-05-03"
    alice = next(a for a in page.named("option") if a["value"] == "U1")
    assert "selected" in alice
    number = next(a for a in page.named("input") if a["type"] == "number")
    assert number["step"] == "1" and number["min"] == "1"


def test_interactive_elements_in_a_message_carry_data_action() -> None:
    blocks = [
        {
            "type": "actions",
            "block_id": "row",
            "elements": [
                {"type": "static_select", "action_id": "s", "options": OPTIONS},
                {"type": "external_select", "action_id": "e", "min_query_length": 2},
                {"type": "radio_buttons", "action_id": "r", "options": OPTIONS},
                {"type": "datepicker", "action_id": "d"},
                {"type": "conversations_select", "action_id": "cs"},
            ],
        },
        section("Pick a date") | {"block_id": "sec", "accessory": {"type": "datepicker"}},
    ]
    page = assert_inert(blocks_html(blocks, NAMES))
    declared = page.json_of("data-action")
    assert [(d["block_id"], d["type"]) for d in declared] == [
        ("row", "static_select"),
        ("row", "external_select"),
        ("row", "radio_buttons"),
        ("row", "datepicker"),
        ("row", "conversations_select"),
        ("sec", "datepicker"),
    ]
    assert declared[-1]["action_id"]  # made up, as Slack does, when the bot gave none
    assert not page.having("data-input")
    assert next(a for a in page.named("option") if a["value"] == "C1")


# --- Home, DMs, messages ------------------------------------------------------------------


def test_home_tab_blocks() -> None:
    page = assert_inert(view_html(home_view(HomeDesk(NOW)), NAMES))
    home = page.named("section")[0]
    assert home["class"] == "home"
    assert action(page, Action.LINK)["type"] == "button"
    assert page.named("hr") and page.named("h2")
    assert len(page.named("li")) == 5 and len(page.named("code")) == 6


def test_home_tab_of_a_linked_person() -> None:
    page = assert_inert(view_html(home_view(HomeDesk(NOW, "bob")), NAMES))
    assert "linked to Cflow as bob" in page.text
    assert not page.having("data-action")


def test_grouped_dm_lists_each_request_with_its_buttons() -> None:
    items = [
        RoundupItem.of(make_request(id=str(n), createdAt=NOW - timedelta(hours=n)), make_workflow())
        for n in (1, 2)
    ]
    payload = grouped_dm(items, reader="carol", group_id="g1", now=NOW)
    page = assert_inert(message_html(message(payload), NAMES))
    approves = [a for a in page.json_of("data-action") if a["action_id"] == Action.APPROVE]
    assert [a["block_id"] for a in approves] == ["cflow_burst_item:2", "cflow_burst_item:1"]
    assert [RequestRef.decode(a["value"]) for a in approves] == [items[1].ref, items[0].ref]
    assert "2 requests are waiting for you" in page.text


def test_message_without_blocks_shows_its_text() -> None:
    page = assert_inert(message_html(message({"text": "Hi *there* <@U1>"}), NAMES))
    assert page.named("b") and "Hi there @alice" in page.text
    assert page.named("article")[0]["data-ts"] == "1714737600.000100"
    assert "Cflow" in page.text and page.named("time")[0]["datetime"].startswith("2024-05-03")


def test_ephemeral_badge_edited_mark_and_replies() -> None:
    markup = message_html(message({"text": "x"}, ephemeral=True, edited=True, replies=3), NAMES)
    page = assert_inert(markup)
    assert "Only visible to you" in page.text and "(edited)" in page.text
    replies = page.having("data-thread")[0]
    assert replies["data-thread"] == "1714737600.000100"
    assert "3 replies" in page.text
    one = Page(message_html(message({"text": "x"}, replies=1), NAMES))
    assert "1 reply" in one.text and "Only visible" not in one.text
    assert not Page(message_html(message({"text": "x"}), NAMES)).having("data-thread")


def test_unknown_and_malformed_blocks_are_noted_not_fatal() -> None:
    blocks: list[Any] = [
        {"type": "call", "call_id": "R1"},
        {"type": "context"},
        {"type": "actions", "elements": [{"type": "workflow_button"}]},
        "not a block",
    ]
    page = assert_inert(blocks_html(blocks, NAMES))
    assert page.text.count("Unsupported") == 4


def test_image_blocks_load_only_web_images() -> None:
    blocks = [
        {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "chart"},
        {"type": "image", "image_url": JS_URL, "alt_text": "bad"},
    ]
    page = assert_inert(blocks_html(blocks, NAMES))
    assert [a["src"] for a in page.named("img")] == ["https://example.com/a.png"]
    assert "[image: bad]" in page.text


def test_rich_text_basics() -> None:
    block = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Hi ", "style": {"bold": True}},
                    {"type": "user", "user_id": "U1"},
                    {"type": "link", "url": JS_URL, "text": "bad"},
                    {"type": "emoji", "name": "tada", "unicode": "1f389"},
                ],
            },
            {"type": "rich_text_list", "style": "bullet", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]},
            ]},
        ],
    }  # fmt: skip
    page = assert_inert(blocks_html([block], NAMES))
    assert page.text == "Hi @alicebad🎉one"
    assert page.named("b") and page.named("li") and not page.named("a")


# --- mrkdwn -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "markup"),
    [
        ("*bold* _italic_ ~strike~", "<b>bold</b> <i>italic</i> <s>strike</s>"),
        ("*bold _both_*", "<b>bold <i>both</i></b>"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("`*not bold*`", '<code class="bk-code">*not bold*</code>'),
        ("a\n```\n*x* <@U1>\n```\nb", 'a<pre class="bk-pre">*x* @alice</pre>b'),
        ("one\ntwo", "one<br>two"),
        ("> said\n> this\nafter", '<blockquote class="bk-quote">said<br>this</blockquote>after'),
        ("• a\n- b", '<ul class="bk-list"><li>a</li><li>b</li></ul>'),
        ("&gt; not a quote", "&gt; not a quote"),
        ("AT&amp;T &lt;b&gt; &amp;lt;", "AT&amp;T &lt;b&gt; &amp;lt;"),
        ("<@U1> <@U9> <@U9|zed>", '<span class="mention">@alice</span> '
         '<span class="mention">@U9</span> <span class="mention">@zed</span>'),
        ("<#C1> <#C2|general>", '<span class="mention">#approvals</span> '
         '<span class="mention">#general</span>'),
        ("<!channel> <!here> <!everyone>", '<span class="mention">@channel</span> '
         '<span class="mention">@here</span> <span class="mention">@everyone</span>'),
        ("&lt;!channel&gt; &lt;@U1&gt;", "&lt;!channel&gt; &lt;@U1&gt;"),
        (":white_check_mark: :no_such_emoji:", "✅ :no_such_emoji:"),
    ],
)  # fmt: skip
def test_mrkdwn(text: str, markup: str) -> None:
    assert mrkdwn_html(text, NAMES) == markup


@pytest.mark.parametrize(
    ("text", "href", "shown"),
    [
        ("<https://x.example/a?b=1&amp;c=2|the *doc*>", "https://x.example/a?b=1&c=2", "the *doc*"),
        ("<http://x.example>", "http://x.example", "http://x.example"),
        ("<mailto:bob@x.example|mail Bob>", "mailto:bob@x.example", "mail Bob"),
        ("<mailto:bob@x.example>", "mailto:bob@x.example", "bob@x.example"),
    ],
)
def test_mrkdwn_links(text: str, href: str, shown: str) -> None:
    page = assert_inert(mrkdwn_html(text, NAMES), MRKDWN_TAGS)
    link = page.named("a")[0]
    assert link == {
        "class": "bk-link",
        "href": href,
        "rel": "noopener noreferrer",
        "target": "_blank",
    }
    assert page.text == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<javascript:alert(1)|click>", "click"),
        ("<javascript:alert(1)>", "javascript:alert(1)"),
        ("<JavaScript:alert(1)|x>", "x"),
        ("<data:text/html,hi|x>", "x"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        (BREAKOUT, BREAKOUT),
        ("javascript:alert(1)", "javascript:alert(1)"),
    ],
)
def test_mrkdwn_never_makes_live_markup(text: str, shown: str) -> None:
    page = assert_inert(mrkdwn_html(text, NAMES), MRKDWN_TAGS)
    assert not page.named("a") and not page.named("img") and not page.named("script")
    assert page.text == shown


def test_plain_text_is_escaped_and_keeps_line_breaks() -> None:
    obj = {"type": "plain_text", "text": f"*not bold*\n{SCRIPT}", "emoji": True}
    assert plain_text_html(obj) == "*not bold*<br>&lt;script&gt;alert(1)&lt;/script&gt;"
    assert plain_text_html(None) == ""


# --- XSS ----------------------------------------------------------------------------------

NASTY = [SCRIPT, BREAKOUT, QUOTE_BREAKOUT, JS_URL, "<javascript:alert(1)|click>"]


@pytest.mark.parametrize("nasty", NASTY)
def test_a_card_of_hostile_cflow_text_is_inert(nasty: str) -> None:
    request = make_request(fields={nasty: nasty, "Title": nasty}, submittedBy=nasty)
    payload = card(request=request, workflow=make_workflow(name=nasty))
    page = assert_inert(message_html(message(payload), NAMES))
    assert nasty.split("|")[0] in page.text
    assert not page.named("script") and not page.named("img")


@pytest.mark.parametrize("nasty", NASTY)
def test_hostile_raw_blocks_are_inert(nasty: str) -> None:
    """Blocks that skipped the bot's escaping: text, labels, values, URLs, options."""
    option = {"text": {"type": "plain_text", "text": nasty}, "value": nasty, "url": nasty}
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": nasty}},
        section(nasty) | {"block_id": nasty, "accessory": button(nasty, nasty, nasty, url=nasty)},
        {"type": "context", "elements": [{"type": "image", "image_url": nasty, "alt_text": nasty}]},
        {"type": "actions",
         "elements": [{"type": "overflow", "action_id": nasty, "options": [option]}]},
        input_block({"type": "plain_text_input", "action_id": nasty, "initial_value": nasty,
                     "placeholder": {"type": "plain_text", "text": nasty}, "multiline": True}),
        input_block({"type": "static_select", "action_id": "s", "options": [option]}),
    ]  # fmt: skip
    view = {"type": "modal", "id": nasty, "callback_id": nasty, "blocks": blocks}
    view |= {"title": {"type": "plain_text", "text": nasty}}
    page = assert_inert(view_html(view, NAMES, errors={nasty: nasty}))
    assert page.named("form")[0]["data-view-id"] == nasty
    assert action(page, nasty)["value"] == nasty
    assert all(o["value"] == nasty for o in page.json_of("data-option"))
    assert page.named("textarea") and not page.named("img")


# --- Properties ---------------------------------------------------------------------------

TEXT = st.text(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from(list("<>&|*_~`:!@#\n"))),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_any_mrkdwn_yields_only_our_tags(text: str) -> None:
    assert_inert(mrkdwn_html(text, NAMES), MRKDWN_TAGS)


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT, TEXT)
def test_any_section_yields_only_our_tags_and_its_own_json(
    text: str, label: str, value: str
) -> None:
    block = {
        "type": "section",
        "block_id": value or "b",
        "text": {"type": "mrkdwn", "text": text or "x"},
        "fields": [{"type": "plain_text", "text": label}, {"type": "mrkdwn", "text": text}],
        "accessory": {"type": "button", "action_id": label, "value": value,
                      "text": {"type": "plain_text", "text": label}},
    }  # fmt: skip
    page = assert_inert(blocks_html([block], NAMES))
    clicked = page.json_of("data-action")[0]
    assert (clicked["action_id"], clicked["value"], clicked["block_id"]) == (
        label or clicked["action_id"],
        value,
        value or "b",
    )


def test_an_apps_link_preview_shows_under_the_message_marked_with_its_link() -> None:
    hostile = 'https://cflow.example.com/x"><script>alert(1)</script>'
    button = {
        "type": "button",
        "action_id": "cflow_approve",
        "text": {"type": "plain_text", "text": "Approve"},
    }
    message = {
        "ts": "1.000100",
        "user": "U1",
        "from_app": False,
        "text": "see <https://cflow.example.com/x>",
        "attachments": [
            {
                "id": 1,
                "is_app_unfurl": True,
                "app_unfurl_url": hostile,
                "blocks": [{"type": "actions", "elements": [button]}],
            },
            {"id": 2, "text": "a classic preview the app did not make"},
        ],
    }
    html = message_html(message, NAMES)
    assert html.count('class="bk-unfurl"') == 1
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '"action_id":"cflow_approve"' in html.replace("&quot;", '"')
    assert "bk-app-badge" not in html  # alice's own message
