"""The consumer-lag metric: end offset minus committed offset per assigned partition (Tansu's admin
API cannot list a group's offsets, so the consumer measures it). The end is the larger of
ListOffsets' answer and the last fetch's high watermark."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from lookout_ingestion.metrics import LAG

logger = logging.getLogger("lookout.ingestion.lag")


async def report_lag(
    consumer: AIOKafkaConsumer, committed: dict[TopicPartition, int], interval_s: float
) -> None:
    """Every ``interval_s``: set the lag of each assigned partition (``committed`` is what this
    consumer committed; a partition it has not committed yet is asked of the group)."""
    while True:
        await asyncio.sleep(interval_s)
        partitions = list(consumer.assignment())
        if not partitions:
            continue
        try:
            ends = await consumer.end_offsets(partitions)
            for partition in partitions:
                if partition not in committed:
                    committed[partition] = await consumer.committed(partition) or 0
                if partition not in consumer.assignment():
                    continue  # revoked while measuring (its gauge is forgotten): not reported
                # The high watermark of the last fetch is the log's end as the broker serves it;
                # ListOffsets may answer less (Tansu does): the larger of the two.
                end = max(ends[partition], consumer.highwater(partition) or 0)
                lag = max(0, end - committed[partition])
                LAG.labels(partition.topic, str(partition.partition)).set(lag)
        except KafkaError as error:
            logger.info("lag not measured", extra={"error": repr(error)})


def forget_lag(partitions: list[TopicPartition]) -> None:
    for partition in partitions:
        try:
            LAG.remove(partition.topic, str(partition.partition))
        except KeyError:
            pass  # never measured
