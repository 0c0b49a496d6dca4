"""Topic ids and exact log ends, asked of the real broker."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaClient, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from lookout_kit.kafka import ensure_topics
from lookout_kit.partition_logs import NO_TOPIC_ID, exact_log_ends, topic_ids
from lookout_testing.servers import Servers


async def test_a_topic_created_again_has_a_new_id(servers: Servers, topic: str) -> None:
    client = AIOKafkaClient(bootstrap_servers=servers.kafka)
    await client.bootstrap()
    try:
        await ensure_topics(servers.kafka, [topic], partitions=1)
        first = await topic_ids(client, [topic, f"{topic}.missing"])
        assert list(first) == [topic]  # a topic the broker does not know is left out
        assert first[topic] != NO_TOPIC_ID
        assert await topic_ids(client, [topic]) == first  # stable while the topic lives
        admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
        await ensure_topics(servers.kafka, [topic], partitions=1)
        again = await topic_ids(client, [topic])
        assert again[topic] not in (NO_TOPIC_ID, first[topic])
    finally:
        await client.close()


async def test_the_exact_end_counts_every_record(servers: Servers, topic: str) -> None:
    await ensure_topics(servers.kafka, [topic], partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, linger_ms=10)
    await producer.start()
    try:
        for _ in range(6):  # several record batches: the last one's first offset is not the end
            sent = [await producer.send(topic, b"x" * 100, partition=0) for _ in range(500)]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    partitions = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    assert await exact_log_ends(servers.kafka, partitions) == {
        partitions[0]: 3_000,
        partitions[1]: 0,
    }
