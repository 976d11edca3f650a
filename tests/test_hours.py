"""When a person may be told (bot.hours) and their settings in Block Kit (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.blocks.ids import Input
from bot.blocks.preferences import Problem, preference_line, read_settings, settings_modal
from bot.domain.hours import (
    Reach,
    days_text,
    is_open,
    minutes,
    next_digest,
    next_open,
    parse_days,
    reach,
    zone,
    zone_name,
)
from bot.store.records import Preference
from tests.test_blocks import assert_within_limits

PARIS = ZoneInfo("Europe/Paris")
NIGHTS = Preference("U1", quiet_from=22 * 60, quiet_to=7 * 60, work_days="12345", tz="Europe/Paris")


def paris(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (paris(1, 21, 59), True),  # Tuesday evening
        (paris(1, 22), False),  # quiet from 22:00
        (paris(2, 3), False),  # across midnight
        (paris(2, 7), True),  # open again at 07:00
        (paris(5, 12), False),  # Saturday
    ],
)
def test_quiet_hours_span_midnight_and_days_off_are_closed(at: datetime, expected: bool) -> None:
    assert is_open(NIGHTS, at) is expected


def test_what_cannot_go_now_waits_for_the_next_open_moment() -> None:
    assert next_open(NIGHTS, paris(1, 23)) == paris(2, 7)
    assert next_open(NIGHTS, paris(4, 23)) == paris(7, 7)  # Friday night: Monday 07:00
    assert next_open(NIGHTS, paris(5, 12)) == paris(7, 7)
    assert next_open(NIGHTS, paris(2, 10)) == paris(2, 10)
    weekdays = Preference("U1", work_days="12345", tz="Europe/Paris")
    assert next_open(weekdays, paris(6, 15)) == paris(7, 0)  # no quiet hours: Monday 00:00


def test_a_digest_comes_at_its_local_time_on_working_days_outside_quiet_hours() -> None:
    daily = Preference("U1", mode="digest", digest_at=9 * 60, work_days="12345", tz="Europe/Paris")
    assert next_digest(daily, paris(1, 8, 59)) == paris(1, 9)
    assert next_digest(daily, paris(1, 9)) == paris(2, 9)
    assert next_digest(daily, paris(4, 10)) == paris(7, 9)  # Friday after nine: Monday
    early = Preference("U1", digest_at=6 * 60, quiet_from=22 * 60, quiet_to=7 * 60)
    assert next_digest(early, datetime(2026, 12, 1, 5, tzinfo=UTC)) == datetime(
        2026, 12, 1, 7, tzinfo=UTC
    ), "inside quiet hours, it waits for their end"


def test_local_times_hold_across_a_daylight_saving_change() -> None:
    daily = Preference("U1", mode="digest", digest_at=9 * 60, tz="Europe/Paris")
    before = paris(28, 10, month=3)  # Saturday 28 March 2026; clocks go forward that night
    after = next_digest(daily, before)
    assert after == paris(29, 9, month=3)
    assert after.astimezone(UTC) - before.astimezone(UTC) == timedelta(hours=22)
    gap = Preference("U1", mode="digest", digest_at=2 * 60 + 30, tz="Europe/Paris")
    skipped = next_digest(gap, paris(28, 12, month=3))  # 02:30 does not exist on the 29th
    assert skipped.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_an_unknown_time_zone_is_utc_rather_than_an_error() -> None:
    odd = Preference("U1", quiet_from=0, quiet_to=60, tz="Mars/Olympus_Mons")
    assert not is_open(odd, datetime(2026, 12, 1, 0, 30, tzinfo=UTC))
    assert zone("Mars/Olympus_Mons") is UTC
    assert zone("../etc/passwd") is UTC
    assert zone("Europe/Paris") == ZoneInfo("Europe/Paris")


def test_a_zone_is_named_as_it_is_used() -> None:
    assert zone_name("Europe/Paris") == "Europe/Paris"
    assert zone_name("UTC") == "UTC"
    assert zone_name("Mars/Olympus_Mons") == "UTC"
    assert zone_name("") == "UTC"


def test_who_is_told_what_and_when() -> None:
    noon = paris(2, 12)
    each, digest = NIGHTS, Preference("U1", mode="digest", tz="Europe/Paris")
    assert reach(each, noon, waiting=True) is Reach.NOW
    assert reach(each, paris(2, 23), waiting=True) is Reach.LATER
    assert reach(digest, noon, waiting=True) is Reach.NEVER  # the digest lists it
    assert reach(digest, noon, waiting=False) is Reach.NOW  # their own request's outcome
    final = Preference("U1", mode="digest", final_dms=True)
    assert reach(final, noon, waiting=True, final_stage=True) is Reach.NOW
    assert reach(final, noon, waiting=True, final_stage=False) is Reach.NEVER
    off = Preference("U1", mode="off")
    assert reach(off, noon, waiting=False) is Reach.NEVER


def test_times_and_days_are_read_forgivingly_and_refused_clearly() -> None:
    assert [minutes(t) for t in ("09:30", "0:00", "23:59", "24:00", "9", "9:5", "ab:cd")] == [
        570,
        0,
        1439,
        None,
        None,
        None,
        None,
    ]
    assert parse_days("Mon-Fri") == "12345"
    assert parse_days("sat-mon") == "167"
    assert parse_days("mon, wed,fri") == "135"
    assert parse_days("all") == "1234567"
    assert parse_days("weekdays") is None
    assert days_text("12345") == "Mon–Fri" and days_text("1234567") == "every day"


def test_the_settings_modal_is_valid_and_reads_back_what_was_chosen() -> None:
    modal = settings_modal(NIGHTS)
    assert_within_limits(modal)
    elements = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}
    assert elements[Input.QUIET_FROM]["initial_time"] == "22:00"
    assert [o["value"] for o in elements[Input.WORK_DAYS]["initial_options"]] == list("12345")
    state = {
        Input.NOTIFY_MODE: {Input.NOTIFY_MODE: {"selected_option": {"value": "digest"}}},
        Input.DIGEST_AT: {Input.DIGEST_AT: {"selected_time": "08:15"}},
        Input.FINAL_DMS: {Input.FINAL_DMS: {"selected_options": [{"value": "yes"}]}},
        Input.QUIET_FROM: {Input.QUIET_FROM: {"selected_time": None}},
        Input.QUIET_TO: {Input.QUIET_TO: {"selected_time": None}},
        Input.WORK_DAYS: {Input.WORK_DAYS: {"selected_options": [{"value": "6"}, {"value": "1"}]}},
    }
    chosen = read_settings(NIGHTS, {"values": state})
    assert chosen == Preference(
        "U1", mode="digest", digest_at=495, final_dms=True, work_days="16", tz="Europe/Paris"
    )
    assert preference_line(chosen) == (
        "One digest a day at 08:15, and a DM at last stages · Mon, Sat (Europe/Paris)"
    )
    half = state | {Input.QUIET_FROM: {Input.QUIET_FROM: {"selected_time": "21:00"}}}
    assert read_settings(NIGHTS, {"values": half}) == Problem(
        Input.QUIET_TO, "Give both ends of your quiet hours, or neither."
    )
    none = state | {Input.WORK_DAYS: {Input.WORK_DAYS: {"selected_options": []}}}
    assert read_settings(NIGHTS, {"values": none}) == Problem(
        Input.WORK_DAYS, "Pick at least one day."
    )
