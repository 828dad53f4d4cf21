from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.dialects.sqlite import pysqlite

from codeinterview.storage import queries


def test_sqlite_gets_qmark_and_hex_uuids() -> None:
    cache = queries.QueryCache(pysqlite.dialect(), encode_uuid=lambda value: uuid.UUID(value).hex)
    user_id = str(uuid.uuid4())

    sql, params = cache(queries.select_participant, session_id="abcd1234", participant_id=user_id)

    assert "participants.session_id = ? AND participants.id = ?" in sql
    assert params == ("abcd1234", uuid.UUID(user_id).hex)


def test_asyncpg_gets_numbered_parameters_and_array_casts() -> None:
    cache = queries.QueryCache(asyncpg.dialect())

    query = cache.get(queries.update_documents_unnest)

    assert "unnest($1::VARCHAR(8)[], $2::TEXT[]" in query.sql
    assert query.names[0] == "id_list"
    assert cache.get(queries.update_documents_unnest) is query


def test_values_written_into_a_statement_are_kept() -> None:
    query = queries.compile_statement(queries.reset_online(), pysqlite.dialect())

    assert query.sql.startswith("UPDATE participants SET is_online=?")
    assert query.params({}) == (False,)
