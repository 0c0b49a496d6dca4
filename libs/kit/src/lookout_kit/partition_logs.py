"""What the Kafka clients do not tell of a partition's log: its topic's id, and its exact end.

- **Topic ids** (Metadata v10+) tell one incarnation of a topic from the next: a topic deleted and
  created again, a move to another cluster, or the local broker's restart (it keeps topics in
  memory) starts the offsets again at 0 under the same name, with a new topic id. aiokafka speaks
  Metadata up to v5 only, so the v10 request and response are declared here, on its own types.
- **Exact ends**: ListOffsets (``end_offsets``) may understate a partition's end: the local broker
  answers the first offset of the last record batch. A fetch response's high watermark is exact.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from io import BytesIO
from typing import Any, ClassVar

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.protocol.abstract import AbstractType
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

logger = logging.getLogger("lookout.kafka")

NO_TOPIC_ID = uuid.UUID(int=0)
"""What a broker without topic ids (before Kafka 2.8) is taken to answer."""


class _Uuid(AbstractType[uuid.UUID]):  # type: ignore[misc]
    @classmethod
    def encode(cls, value: uuid.UUID | None) -> bytes:
        return (value or NO_TOPIC_ID).bytes

    @classmethod
    def decode(cls, data: BytesIO) -> uuid.UUID:
        raw = data.read(16)
        if len(raw) != 16:
            raise ValueError("Buffer underrun decoding a UUID")
        return uuid.UUID(bytes=raw)


_STRING = CompactString("utf-8")


class _MetadataResponseV10(Response):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", _STRING),
                ("port", Int32),
                ("rack", _STRING),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", _STRING),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", _STRING),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


class _MetadataRequestV10(RequestStruct):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 10
    FLEXIBLE_VERSION: ClassVar[bool] = True
    RESPONSE_TYPE = _MetadataResponseV10
    SCHEMA = Schema(
        ("topics", CompactArray(("topic_id", _Uuid), ("name", _STRING), ("tags", TaggedFields))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _TopicMetadata(Request[_MetadataRequestV10]):  # type: ignore[misc]
    API_KEY = 3

    def __init__(self, topics: Sequence[str]) -> None:
        self._topics = list(topics)

    def build(self, request_struct_class: type[_MetadataRequestV10]) -> _MetadataRequestV10:
        return request_struct_class(
            [(None, name, {}) for name in self._topics], False, False, False, {}
        )


async def topic_ids(client: AIOKafkaClient, topics: Sequence[str]) -> dict[str, uuid.UUID]:
    """Each existing topic's id; ``NO_TOPIC_ID`` for every topic when the broker has no topic ids.

    A topic the broker does not know is left out. Raises what the client raises when no broker
    answers (``KafkaError``)."""
    if not topics:
        return {}
    node = client.get_random_node()
    try:
        response: Any = await client.send(node, _TopicMetadata(topics))
    except (IncompatibleBrokerVersion, NotImplementedError):
        logger.info("the broker has no topic ids (Metadata v10)")
        return dict.fromkeys(topics, NO_TOPIC_ID)
    found: dict[str, uuid.UUID] = {}
    for topic in response.to_object()["topics"]:
        if topic["error_code"] == 0 and topic["name"] in topics:
            found[topic["name"]] = topic["topic_id"]
    return found


async def exact_log_ends(
    bootstrap_servers: str, partitions: Sequence[TopicPartition], *, timeout_s: float = 5.0
) -> dict[TopicPartition, int]:
    """Each partition's end offset (high watermark), from a fetch at its reported end.

    A partition that gave no fetch response before ``timeout_s`` is left out."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=1024,
    )
    await consumer.start()
    try:
        consumer.assign(list(partitions))
        await consumer.seek_to_end(*partitions)  # at most the true end: the fetch is in range
        ends: dict[TopicPartition, int] = {}
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(ends) < len(partitions) and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=100)
            for partition in partitions:
                end = consumer.highwater(partition)
                if end is not None:
                    ends[partition] = end
        return ends
    finally:
        await consumer.stop()
