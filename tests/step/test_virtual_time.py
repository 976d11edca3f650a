"""Virtual time itself (tests/virtual_time.py), and the bot's waits that follow it: the
store's locks and each person's read limit lapse in virtual seconds, not wall ones."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.step.harness import START, SteppedBot
from tests.virtual_time import VirtualTime


async def test_sleepers_wake_in_time_order_each_at_its_own_time() -> None:
    vt = VirtualTime(START)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, *naps: float) -> None:
        for nap in naps:
            await vt.sleep(nap)
            woke.append((name, vt.monotonic()))

    await vt.run_until(asyncio.gather(sleeper("a", 3, 3), sleeper("b", 1, 4), sleeper("c", 2)))
    assert woke == [("b", 1), ("c", 2), ("a", 3), ("b", 5), ("a", 6)]
    assert vt.now() == START + timedelta(seconds=6)


async def test_time_stands_still_until_the_test_lets_it_run() -> None:
    vt = VirtualTime(START)
    napping = asyncio.ensure_future(vt.sleep(10))
    await asyncio.sleep(0.01)  # wall time passes; virtual time does not
    assert vt.monotonic() == 0 and not napping.done() and vt.sleepers == 1
    await vt.advance(9.5)
    assert vt.monotonic() == 9.5 and not napping.done(), "not due yet"
    await vt.advance(0.5)
    assert napping.done() and vt.monotonic() == 10 and vt.sleepers == 0


async def test_a_sleep_always_moves_the_clock() -> None:
    """However short: a pacer short of its token by a float's rounding error would
    otherwise wake to the same moment, forever."""
    vt = VirtualTime(START)
    await vt.run_until(vt.sleep(1e-12))
    assert vt.monotonic() > 0


async def test_the_stores_locks_and_a_persons_limit_lapse_in_virtual_time(
    bot: SteppedBot,
) -> None:
    store, limits = bot.services.store, bot.services.person_limits
    assert await store.try_lock("request:1001/1", "click-1", 60)
    assert not await store.try_lock("request:1001/1", "click-2", 60)
    assert [limits.allow("U0BOB") for _ in range(11)] == [True] * 10 + [False]
    await bot.advance(seconds=59)
    assert not await store.try_lock("request:1001/1", "click-2", 60), "held for its minute"
    await bot.advance(seconds=1)
    assert await store.try_lock("request:1001/1", "click-2", 60), "lapsed: a minute went by"
    assert limits.allow("U0BOB"), "and bob may read again (one every 2 s)"
