"""A data source's connection settings: validated per kind (the connector registry's model),
split into the plain settings (``connection_config``) and the secret fields (sealed together by
the kit's secret box into ``secrets``, bound to the row), opened again for a connector, and merged
with a partial update.

The sealed value is ``v1:<kid>:…`` of the JSON object ``{field: value}`` of the secrets that are
set, with ``row_context("data_sources", "secrets", id)`` as its context: rotating keys is
``lookout-secrets reencrypt datasource --table data_sources --column secrets --id-column id``.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from lookout_kit.errors import Invalid
from lookout_kit.secret_box import SecretBox, row_context
from pydantic import ValidationError

from lookout_datasource.repository.data_sources import Connection, DataSourceRow
from lookout_datasource.schemas.data_sources import MASK
from lookout_datasource.service.connectors.base import ConnectionConfig
from lookout_datasource.service.connectors.registry import config_model

TABLE, COLUMN = "data_sources", "secrets"


def secret_fields(kind: str) -> tuple[str, ...]:
    return config_model(kind).SECRET_FIELDS


def validate(kind: str, document: dict[str, Any]) -> ConnectionConfig:
    """``document`` as ``kind``'s settings; 422 ``invalid_connection_config`` listing each problem
    (where and why, never the value given)."""
    try:
        return config_model(kind).model_validate(document)
    except ValidationError as error:
        problems = error.errors(include_input=False, include_url=False, include_context=False)
        details = [
            {
                "loc": ["body", "connection_config", *(str(part) for part in e["loc"])],
                "msg": e["msg"],
                "type": e["type"],
            }
            for e in problems
        ]
        where = ", ".join(
            ".".join(str(part) for part in e["loc"]) + ": " + e["msg"] for e in problems[:5]
        )
        raise Invalid(
            f"Invalid connection_config for {kind}: {where}",
            code="invalid_connection_config",
            details=details,
        ) from None


def _secrets_of(config: ConnectionConfig) -> dict[str, str]:
    return {
        name: config.secret(name)
        for name in config.SECRET_FIELDS
        if getattr(config, name) is not None
    }


def seal(box: SecretBox, data_source_id: UUID, config: ConnectionConfig) -> Connection:
    """What the row stores of ``config``: plain settings, and the secrets sealed for this row."""
    secrets = _secrets_of(config)
    plain = config.model_dump(mode="json", exclude=set(config.SECRET_FIELDS))
    sealed = None
    if secrets:
        sealed = box.encrypt(
            json.dumps(secrets), context=row_context(TABLE, COLUMN, data_source_id)
        )
    return Connection(config=plain, secrets=sealed, secret_names=sorted(secrets))


def _opened_secrets(box: SecretBox, row: DataSourceRow) -> dict[str, str]:
    if row.secrets is None:
        return {}
    opened: dict[str, str] = json.loads(
        box.decrypt_text(row.secrets, context=row_context(TABLE, COLUMN, row.id))
    )
    return opened


def open_config(box: SecretBox, row: DataSourceRow) -> ConnectionConfig:
    """The row's full settings with its secrets opened (what a connector is given)."""
    return config_model(row.type).model_validate(
        {**row.connection_config, **_opened_secrets(box, row)}
    )


def merged(box: SecretBox, row: DataSourceRow, patch: dict[str, Any]) -> ConnectionConfig:
    """The row's settings with ``patch`` applied: a key given replaces, a key omitted stays, a key
    set to null goes back to its default (a secret: cleared); a secret sent as the mask is kept.
    An unknown key is refused, null or not."""
    secrets = secret_fields(row.type)
    document: dict[str, Any] = {**row.connection_config, **_opened_secrets(box, row)}
    for key, value in patch.items():
        if key in secrets and value == MASK:
            continue
        if value is None and key in config_model(row.type).model_fields:
            document.pop(key, None)
        else:
            document[key] = value
    return validate(row.type, document)
