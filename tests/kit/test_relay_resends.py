"""The relay marks a record whose row a relay had claimed before (it may have been sent already: that
relay died or lost the acknowledgement), so that consumers can look for the earlier copy."""

from __future__ import annotations

import asyncpg
from lookout_contracts.envelope import Envelope
from lookout_contracts.headers import CONTENT_TYPE_HEADER, POSSIBLE_RESEND_HEADER
from lookout_kit.outbox import publish_in_tx
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture

from .factories import Step, make_relay, step_event


async def test_a_row_claimed_before_is_sent_marked_as_a_possible_resend(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    claimed, fresh = step_event("claimed", 1), step_event("fresh", 1)
    await _publish(pool, topic, claimed, fresh)
    async with pool.acquire() as conn:
        # A relay claims the first row, sends it, and dies before it marks it published: its
        # transaction is rolled back, the row is unpublished again.
        dying_relay = conn.transaction()
        await dying_relay.start()
        assert await conn.fetchval(
            "SELECT count(*) FROM (SELECT id FROM outbox WHERE event_id = $1"
            " FOR UPDATE SKIP LOCKED) AS claimed",
            claimed.id,
        )
        await dying_relay.rollback()
    relay = make_relay(outbox_database, pool, servers.kafka)
    try:
        assert (await relay.publish_batch()).published == 2
        async with TopicCapture(servers.kafka, topic) as capture:
            records = await capture.wait_for(2)
        by_event = {record.key: record for record in records}
        assert [name for name, _ in by_event[b"claimed"].headers] == [
            POSSIBLE_RESEND_HEADER,
            CONTENT_TYPE_HEADER,
        ]
        assert dict(by_event[b"claimed"].headers)[POSSIBLE_RESEND_HEADER] == b"1"
        assert [name for name, _ in by_event[b"fresh"].headers] == [CONTENT_TYPE_HEADER]
        assert (await relay.publish_batch()).published == 0
    finally:
        await relay.stop()


async def test_a_row_held_back_behind_another_relays_row_is_not_marked(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    earlier, later = step_event("one-key", 1), step_event("one-key", 2)
    await _publish(pool, topic, earlier, later)
    relay = make_relay(outbox_database, pool, servers.kafka)
    try:
        async with pool.acquire() as conn:
            # Another relay holds the earlier row of the key: this one claims the later row and
            # must hold it back, unsent. The other relay then dies (rolled back).
            other_relay = conn.transaction()
            await other_relay.start()
            await conn.fetch(
                "SELECT id FROM outbox WHERE event_id = $1 FOR UPDATE SKIP LOCKED", earlier.id
            )
            outcome = await relay.publish_batch()
            assert (outcome.published, outcome.held_back) == (0, 1)
            await other_relay.rollback()
        assert (await relay.publish_batch()).published == 2
        async with TopicCapture(servers.kafka, topic) as capture:
            records = await capture.wait_for(2)
        names = {
            Envelope[Step].model_validate_json(record.value).data.sequence: [
                name for name, _ in record.headers
            ]
            for record in records
        }
        assert names == {1: [POSSIBLE_RESEND_HEADER, CONTENT_TYPE_HEADER], 2: [CONTENT_TYPE_HEADER]}
    finally:
        await relay.stop()


async def _publish(pool: asyncpg.Pool, topic: str, *events: Envelope[Step]) -> None:
    """The events in the outbox, written by one transaction, in order."""
    async with pool.acquire() as conn, conn.transaction():
        for event in events:
            await publish_in_tx(conn, event, topic=topic)
