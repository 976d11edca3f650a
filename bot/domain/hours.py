"""When a person may be told, in their own time zone (pure).

Each person's `Preference` says how they want to hear about requests (a DM each, a
daily digest, or no DMs) and when not to hear at all: quiet hours (which may span
midnight) and working days. What cannot be sent now waits for `next_open`; a digest is
due at `next_digest`, its local time on their next working day, never inside quiet hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.store.records import EVERY_DAY, Preference

DAY_MINUTES = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS_AHEAD = 400  # a count of working hours looks no further than this


class Reach(Enum):
    NOW = "now"  # send it
    LATER = "later"  # their quiet hours or a day off: send it when they open
    NEVER = "never"  # not by DM: their digest lists it, or they want no DMs


def zone(name: str) -> tzinfo:
    """Their zone; an unknown name (Slack's list is IANA's, but a database outlives both)
    is UTC rather than an error that would stop their messages."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_name(name: str) -> str:
    """The name of the zone `zone(name)` is: `name` if known, else "UTC"."""
    found = zone(name)
    return found.key if isinstance(found, ZoneInfo) else "UTC"


def minutes(text: str) -> int | None:
    """ "09:30" -> 570; None unless a valid 24-hour time."""
    hours, sep, mins = text.strip().partition(":")
    if not sep or not (hours.isdigit() and mins.isdigit()) or len(mins) != 2:
        return None
    value = int(hours) * 60 + int(mins)
    return value if int(hours) < 24 and int(mins) < 60 else None


def clock_text(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


def is_quiet(pref: Preference, minute: int) -> bool:
    start, end = pref.quiet_from, pref.quiet_to
    if start is None or end is None or start == end:
        return False
    return start <= minute < end if start < end else minute >= start or minute < end


def is_away(pref: Preference, at: datetime) -> bool:
    return pref.away_until is not None and at < pref.away_until


def is_open(pref: Preference, at: datetime) -> bool:
    """Whether `at` is on one of their working days, outside their quiet hours, and
    they are not away."""
    if is_away(pref, at):
        return False
    return _in_working_hours(pref, at)


def _in_working_hours(pref: Preference, at: datetime) -> bool:
    here = at.astimezone(zone(pref.tz))
    return _works_on(pref, here.date()) and not is_quiet(pref, here.hour * 60 + here.minute)


def next_open(pref: Preference, at: datetime) -> datetime:
    """`at` if they can be told then, else the first moment after it that they can."""
    if is_away(pref, at):
        assert pref.away_until is not None
        at = pref.away_until
    if is_open(pref, at):
        return at
    here, tz = at.astimezone(zone(pref.tz)), zone(pref.tz)
    starts = [0] if pref.quiet_to is None else [0, pref.quiet_to]
    for days in range(8):
        day = here.date() + timedelta(days=days)
        for start in starts:
            moment = _at(day, start, tz)
            if moment > at and is_open(pref, moment):
                return moment
    return at  # no working day at all: not theirs to hold back forever


def working_time(pref: Preference, start: datetime, end: datetime) -> timedelta:
    """How much of [start, end) is on their working days outside their quiet hours."""
    total = timedelta()
    for opens, closes in _spans(pref, start, end):
        total += min(closes, end) - max(opens, start)
    return total


def after_working(pref: Preference, start: datetime, hours: float) -> datetime:
    """The moment `hours` of their working time have passed since `start`."""
    left = timedelta(hours=hours)
    horizon = start + timedelta(days=MAX_DAYS_AHEAD)
    for opens, closes in _spans(pref, start, horizon):
        begin = max(opens, start)
        if closes - begin >= left:
            return begin + left
        left -= closes - begin
    return horizon


def _spans(pref: Preference, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Their working spans (UTC-comparable) from `start`'s local day to `end`'s."""
    tz, spans = zone(pref.tz), []
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    while day <= last:
        if _works_on(pref, day):
            spans += [(o, c) for o, c in _day_spans(pref, day, tz) if c > start and o < end]
        day += timedelta(days=1)
    return spans


def _day_spans(pref: Preference, day: date, tz: tzinfo) -> list[tuple[datetime, datetime]]:
    midnight, next_midnight = _at(day, 0, tz), _at(day + timedelta(days=1), 0, tz)
    start, end = pref.quiet_from, pref.quiet_to
    if start is None or end is None or start == end:
        return [(midnight, next_midnight)]
    if start < end:  # quiet inside the day: open before and after
        return [(midnight, _at(day, start, tz)), (_at(day, end, tz), next_midnight)]
    return [(_at(day, end, tz), _at(day, start, tz))]  # quiet across midnight


def tomorrow_morning(pref: Preference, now: datetime) -> datetime:
    """The start of their next working day after today: the end of their quiet hours,
    or 09:00 when they have none."""
    tz = zone(pref.tz)
    start = pref.quiet_to if pref.quiet_to is not None and pref.quiet_from is not None else 540
    day = now.astimezone(tz).date() + timedelta(days=1)
    return next_open(pref, _at(day, start, tz))


def day_after(pref: Preference, day: date) -> datetime:
    """The first moment after `day` ends, in their time zone."""
    return _at(day + timedelta(days=1), 0, zone(pref.tz))


def next_digest(pref: Preference, after: datetime) -> datetime:
    """Their next digest after `after`: `digest_at` on a working day, or the end of their
    quiet hours when it falls inside them."""
    tz = zone(pref.tz)
    first = after.astimezone(tz).date()
    for days in range(9):
        day = first + timedelta(days=days)
        if not _works_on(pref, day):
            continue
        moment = next_open(pref, _at(day, pref.digest_at, tz))
        if moment > after:
            return moment
    return after + timedelta(days=1)


def preference_for(stored: Mapping[str, Preference], slack_user_id: str) -> Preference:
    """Their stored preference, or the defaults."""
    return stored.get(slack_user_id) or Preference(slack_user_id)


def reach(pref: Preference, at: datetime, *, waiting: bool, final_stage: bool = False) -> Reach:
    """Whether a DM goes to them now: `waiting` for one about a request that waits on them
    (a digest lists those), else about their own request (its outcome)."""
    if pref.mode == "off":
        return Reach.NEVER
    if pref.mode == "digest" and waiting and not (pref.final_dms and final_stage):
        return Reach.NEVER
    return Reach.NOW if is_open(pref, at) else Reach.LATER


def days_text(work_days: str) -> str:
    """ "12345" -> "Mon–Fri"; "1234567" -> "every day"."""
    if not work_days or work_days == EVERY_DAY:
        return "every day"
    numbers = sorted(int(d) for d in work_days)
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{WEEKDAYS[numbers[0] - 1].title()}–{WEEKDAYS[numbers[-1] - 1].title()}"
    return ", ".join(WEEKDAYS[n - 1].title() for n in numbers)


def parse_days(text: str) -> str | None:
    """ "mon-fri", "mon,wed,fri", "all" -> ISO weekday digits; None if not understood."""
    words = text.strip().lower()
    if words in ("all", "every day", "everyday", "daily"):
        return EVERY_DAY
    found: set[int] = set()
    for part in words.replace(" ", "").split(","):
        start, sep, end = part.partition("-")
        if start not in WEEKDAYS or (sep and end not in WEEKDAYS):
            return None
        first, last = WEEKDAYS.index(start), WEEKDAYS.index(end if sep else start)
        span = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        found.update(n + 1 for n in span)
    return "".join(str(n) for n in sorted(found)) or None


def _works_on(pref: Preference, day: date) -> bool:
    return not pref.work_days or str(day.isoweekday()) in pref.work_days


def _at(day: date, minute: int, tz: tzinfo) -> datetime:
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    return local.astimezone(UTC).astimezone(tz)  # a time a DST gap skips moves past it
