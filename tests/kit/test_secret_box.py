"""The secret box: round trip, rotation with re-encryption in a real database, and every refusal
(tampering, another row's context, an unknown key, a malformed value, bad key settings)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from lookout_kit.errors import install_error_handlers
from lookout_kit.reencrypt import reencrypt_column
from lookout_kit.secret_box import (
    MalformedSecret,
    SecretBox,
    SecretBoxSettings,
    SecretRefused,
    UnknownSecretKey,
    row_context,
)
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

CONTEXT = row_context("data_sources", "password", "7")


def new_key() -> bytes:
    return secrets.token_bytes(32)


def box_of(primary: str, **keys: bytes) -> SecretBox:
    return SecretBox(keys, primary)


class BoxSettings(SecretBoxSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_TEST_BOX_")


def test_round_trip_of_text_and_bytes() -> None:
    box = box_of("k1", k1=new_key())
    sealed = box.encrypt("p@ss wörd", context=CONTEXT)
    assert sealed.startswith("v1:k1:") and "p@ss" not in sealed
    assert box.decrypt_text(sealed, context=CONTEXT) == "p@ss wörd"
    raw = secrets.token_bytes(32)
    assert box.decrypt(box.encrypt(raw, context=CONTEXT), context=CONTEXT) == raw
    assert box.decrypt(box.encrypt(b"", context=CONTEXT), context=CONTEXT) == b""
    # A fresh nonce each time: equal secrets do not look equal at rest.
    assert box.encrypt("same", context=CONTEXT) != box.encrypt("same", context=CONTEXT)
    # A bytea column hands back bytes; they open as well.
    assert box.decrypt(sealed.encode(), context=CONTEXT) == "p@ss wörd".encode()
    assert box.kid_of(sealed) == "k1" and box.is_current(sealed)


def test_rotation_old_secrets_open_and_new_ones_use_the_new_primary() -> None:
    k1, k2 = new_key(), new_key()
    old = box_of("k1", k1=k1).encrypt("hunter2", context=CONTEXT)
    rotated = box_of("k2", k1=k1, k2=k2)
    assert rotated.decrypt_text(old, context=CONTEXT) == "hunter2"
    assert not rotated.is_current(old)
    new = rotated.encrypt("hunter2", context=CONTEXT)
    assert rotated.kid_of(new) == "k2"
    moved = rotated.reencrypt(old, context=CONTEXT)
    assert rotated.kid_of(moved) == "k2"
    assert box_of("k2", k2=k2).decrypt_text(moved, context=CONTEXT) == "hunter2"


def _flip(sealed: str, index: int) -> str:
    """``sealed`` with one base64 character of its payload changed."""
    head, payload = sealed.rsplit(":", 1)
    characters = list(payload)
    characters[index] = "A" if characters[index] != "A" else "B"
    return f"{head}:{''.join(characters)}"


def test_tampering_is_refused() -> None:
    k1, k2 = new_key(), new_key()
    box = box_of("k1", k1=k1, k2=k2)
    sealed = box.encrypt("hunter2", context=CONTEXT)
    # The nonce, the ciphertext, the tag (the last character may hold unused bits: the one before).
    for index in (0, 17, -2):
        with pytest.raises(SecretRefused):
            box.decrypt(_flip(sealed, index), context=CONTEXT)
    # The kid is authenticated too: relabelled, a ciphertext fails even where two ids name one
    # key (a key registered again under a new id).
    twice = box_of("k1", k1=k1, k2=k1)
    with pytest.raises(SecretRefused):
        twice.decrypt(sealed.replace("v1:k1:", "v1:k2:"), context=CONTEXT)


def test_another_rows_context_is_refused() -> None:
    box = box_of("k1", k1=new_key())
    sealed = box.encrypt("hunter2", context=row_context("data_sources", "password", "7"))
    for other in [
        row_context("data_sources", "password", "8"),
        row_context("data_sources", "webhook_secret", "7"),
        row_context("alerts", "password", "7"),
        b"",
    ]:
        with pytest.raises(SecretRefused) as refused:
            box.decrypt(sealed, context=other)
        assert refused.value.code == "secret_refused"


def test_an_unknown_key_id_is_refused() -> None:
    sealed = box_of("k1", k1=new_key()).encrypt("hunter2", context=CONTEXT)
    with pytest.raises(UnknownSecretKey) as unknown:
        box_of("k2", k2=new_key()).decrypt(sealed, context=CONTEXT)
    assert unknown.value.code == "secret_key_unknown" and "'k1'" in unknown.value.message
    # Same id, another key (a key replaced instead of rotated): refused, not garbage.
    with pytest.raises(SecretRefused):
        box_of("k1", k1=new_key()).decrypt(sealed, context=CONTEXT)


def test_malformed_values_are_refused() -> None:
    box = box_of("k1", k1=new_key())
    sealed = box.encrypt("hunter2", context=CONTEXT)
    for bad in [
        "",
        "hunter2",
        sealed.replace("v1:", "v2:", 1),
        "v1:k1:",
        "v1:k1:c2hvcnQ",  # shorter than a nonce and a tag
        "v1:k:1:" + sealed.split(":", 2)[2],  # a kid with a colon
        sealed + "!",  # not base64url
        sealed + "=",  # padding is not part of the format
        b"\xff\xfe",
    ]:
        with pytest.raises(MalformedSecret):
            box.decrypt(bad, context=CONTEXT)


async def test_a_refusal_reaches_a_client_as_the_error_model_without_internals() -> None:
    app = FastAPI()
    install_error_handlers(app)
    box = box_of("k1", k1=new_key())
    sealed = box.encrypt("hunter2", context=CONTEXT)

    @app.get("/tampered")
    async def tampered() -> str:
        return box.decrypt_text(_flip(sealed, 20), context=CONTEXT)

    @app.get("/unknown")
    async def unknown() -> str:
        return box_of("k9", k9=new_key()).decrypt_text(sealed, context=CONTEXT)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://box") as client:
        for path, code in [("/tampered", "secret_refused"), ("/unknown", "secret_key_unknown")]:
            response = await client.get(path)
            assert response.status_code == 500
            assert response.json()["error"]["code"] == code
            assert "Traceback" not in response.text and "hunter2" not in response.text


def test_key_settings_are_validated_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.urlsafe_b64encode(new_key()).decode()
    short = base64.b64encode(secrets.token_bytes(16)).decode()
    monkeypatch.setenv("LOOKOUT_TEST_BOX_SECRET_KEYS", f'{{"k1": "{key}", "k2": "{key}"}}')
    monkeypatch.setenv("LOOKOUT_TEST_BOX_SECRET_PRIMARY_KID", "k2")
    settings = BoxSettings()
    assert settings.secret_box().primary_kid == "k2"
    assert key not in repr(settings) and key not in str(settings.model_dump())
    cases = {
        "not base64": (f'{{"k1": "{key[:-3]}**!"}}', "k1", "not base64"),
        "16 bytes": (f'{{"k1": "{short}"}}', "k1", "must be 32 bytes"),
        "primary missing": (f'{{"k1": "{key}"}}', "k2", "primary key id 'k2'"),
        "no key": ("{}", "k1", "at least one key"),
        "bad kid": (f'{{"k:1": "{key}"}}', "k:1", "must match"),
    }
    for name, (keys, primary, reason) in cases.items():
        monkeypatch.setenv("LOOKOUT_TEST_BOX_SECRET_KEYS", keys)
        monkeypatch.setenv("LOOKOUT_TEST_BOX_SECRET_PRIMARY_KID", primary)
        with pytest.raises(ValidationError) as refused:
            BoxSettings()
        assert reason in str(refused.value), name
        # pydantic would print the input (abridged): the settings hide it.
        assert "input_value" not in str(refused.value), name
        assert key not in str(refused.value) and short not in str(refused.value), name
    monkeypatch.setenv("LOOKOUT_TEST_BOX_SECRET_KEYS", f'{{"k1": {key}')  # not JSON
    with pytest.raises(ValueError) as not_json:
        BoxSettings()
    assert key not in str(not_json.value)
    monkeypatch.delenv("LOOKOUT_TEST_BOX_SECRET_KEYS")
    with pytest.raises(ValidationError):
        BoxSettings(secret_keys={"k1": SecretStr(short)}, secret_primary_kid="k1")


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database)
    await connection.execute(
        "CREATE TABLE data_sources (id INT PRIMARY KEY, password TEXT, token BYTEA)"
    )
    yield connection
    await connection.close()


async def test_reencryption_moves_a_column_to_the_primary_key_in_batches(
    conn: asyncpg.Connection,
) -> None:
    k1, k2 = new_key(), new_key()
    old, rotated, only_new = box_of("k1", k1=k1), box_of("k2", k1=k1, k2=k2), box_of("k2", k2=k2)
    rows = []
    for row_id in range(1, 12):
        # Row 5 is already under the new key; row 8 holds no secret.
        box = rotated if row_id == 5 else old
        password = None if row_id == 8 else f"password {row_id}"
        sealed = (
            None
            if password is None
            else box.encrypt(password, context=row_context("data_sources", "password", row_id))
        )
        token = box.encrypt(f"token {row_id}", context=row_context("data_sources", "token", row_id))
        rows.append((row_id, sealed, token.encode()))
    await conn.executemany("INSERT INTO data_sources VALUES ($1, $2, $3)", rows)
    unchanged = await conn.fetchval("SELECT password FROM data_sources WHERE id = 5")

    done = await reencrypt_column(
        conn, rotated, table="data_sources", column="password", id_column="id", batch_size=3
    )
    assert (done.scanned, done.reencrypted) == (10, 9)
    tokens = await reencrypt_column(
        conn, rotated, table="data_sources", column="token", id_column="id", batch_size=4
    )
    assert (tokens.scanned, tokens.reencrypted) == (11, 10)

    stored = await conn.fetch("SELECT id, password, token FROM data_sources ORDER BY id")
    assert stored[4]["password"] == unchanged  # already current: left alone
    for row in stored:
        assert isinstance(row["token"], bytes)
        assert only_new.decrypt_text(
            row["token"], context=row_context("data_sources", "token", row["id"])
        ) == (f"token {row['id']}")
        if row["id"] == 8:
            assert row["password"] is None
            continue
        assert only_new.decrypt_text(
            row["password"], context=row_context("data_sources", "password", row["id"])
        ) == (f"password {row['id']}")
    again = await reencrypt_column(
        conn, rotated, table="data_sources", column="password", id_column="id"
    )
    assert (again.scanned, again.reencrypted) == (10, 0)


async def test_reencryption_stops_at_an_unreadable_value_and_names_its_row(
    conn: asyncpg.Connection,
) -> None:
    k1, k2 = new_key(), new_key()
    old, rotated = box_of("k1", k1=k1), box_of("k2", k1=k1, k2=k2)
    good = old.encrypt("fine", context=row_context("data_sources", "password", 1))
    # Copied from row 1 to row 2: its context says row 1.
    await conn.executemany(
        "INSERT INTO data_sources (id, password) VALUES ($1, $2)", [(1, good), (2, good)]
    )
    with pytest.raises(SecretRefused) as refused:
        await reencrypt_column(
            conn, rotated, table="data_sources", column="password", id_column="id", batch_size=1
        )
    assert "data_sources.password, row 2" in refused.value.message
    # The batch before it is done; the refused row is untouched.
    stored = dict(await conn.fetch("SELECT id, password FROM data_sources"))
    assert rotated.kid_of(stored[1]) == "k2" and stored[2] == good
    with pytest.raises(ValueError):
        await reencrypt_column(
            conn, rotated, table="data_sources; DROP TABLE x", column="password", id_column="id"
        )
