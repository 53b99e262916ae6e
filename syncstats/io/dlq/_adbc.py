"""Arrow-native fast path of :func:`syncstats.io.read_dlq` for SQLite databases.

The per-row reader in :mod:`syncstats.io.dlq` (``fetchall`` into Python objects, then
normalised value by value) is the reference. This path reads the same ``SELECT`` through
ADBC's SQLite driver (``adbc_driver_sqlite``), which fills Arrow buffers in C, and turns
them into the ``dlq`` frame with pyarrow and numpy: no Python object per row.

It declines (returns the reason, a str; the caller then runs the reference on the same
connection parameters and reports an ``engine_fallback`` caveat with that reason)
whenever it cannot reproduce the reference *exactly*:

- SQLite stores any type in any column. A per-row ``typeof()`` flag computed in the same
  ``SELECT`` (no second scan) catches an INTEGER, REAL or BLOB in a text column, which
  ADBC would silently turn into text; a non-integer in an integer column makes ADBC fail
  or infer another Arrow type, both of which decline.
- Text that is not valid UTF-8 (the reference decodes it with replacement characters
  and reports it), a value longer than :data:`~syncstats.io.dlq.MAX_VALUE_BYTES` (the
  reference's SQLite refuses it), an id that is missing, duplicated or out of order (the
  order of equal ids is the SQL engine's choice), a ``failed_at`` that is not exactly
  ``YYYY-MM-DD HH:MM:SS`` naming a real second (the reference parses other ISO forms
  and reports the rest), a ``failed_at`` outside the readers' one window
  (``syncstats._time.plausible``, 2000 up to 2100: the reference reports it),
  a database not encoded in UTF-8, and any error of the driver
  (busy, corrupt, unreadable): all decline.

So on every database it accepts, the frame is value for value, dtype for dtype and in
the same order what the reference builds, and it reports nothing, as the reference
reports nothing on clean rows. A test compares both on the sample data, on hand-made
defects and on generated databases.

The ADBC connection is opened with the same URI as the reference's (``mode=ro``,
``mode=ro&readonly_shm=1``, ``immutable=1`` or the recovered private copy, chosen by
:func:`syncstats.io.sqlitestate.open_committed`), in autocommit mode
so that the one ``SELECT`` is one read transaction, and with the same busy timeout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..._time import plausible

__all__ = ["read_dead_letters", "MIN_FILE_BYTES"]

#: Databases smaller than this are read by the reference: below ~1 MB (~500 rows of 1 KB
#: traces) both take ~30 ms, mostly fixed costs; at 4 MB the fast path takes 32 ms and the
#: reference 41 ms, at 16 MB 48 ms and 110 ms.
MIN_FILE_BYTES = 1 << 20
#: Rows per Arrow batch: large enough that per-batch overhead vanishes, small enough that
#: a batch of 1 KB stack traces stays far below Arrow's 2 GiB ``string`` offset limit.
BATCH_ROWS = 65_536

_TEXT_COLUMNS = ("error_type", "error_message", "stack_trace")
_FLAG = "_syncstats_not_text"
_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype
_UTC_US = pd.DatetimeTZDtype(unit="us", tz="UTC")


class _Declined(Exception):
    """The fast path cannot reproduce the reference on this database."""


def read_dead_letters(
    uri: str,
    cols: list[str],
    missing: list[str],
    *,
    timeout: float,
    max_value_bytes: int,
    source: str,
    origin: str,
) -> pd.DataFrame | str:
    """The ``dlq`` rows of one database as the reference's ``_normalise`` builds them.

    Parameters
    ----------
    uri : str
        SQLite URI of the committed state, as the reference opened it
        (:attr:`syncstats.io.sqlitestate.Committed.uri`).
    cols : list of str
        Columns of :data:`~syncstats.io.dlq.DLQ_COLUMNS` stored in ``dead_letters``
        (``id`` among them).
    missing : list of str
        The other columns of ``DLQ_COLUMNS``: loaded as missing values.
    timeout : float
        Busy timeout, seconds.
    max_value_bytes : int
        Longest string the reference's SQLite hands over.
    source, origin : str
        Values of the ``source`` and ``origin`` columns (already cleaned).

    Returns
    -------
    DataFrame or str
        Columns source, id, job_id, scene_id, error_type, error_message, stack_trace,
        retry_count, failed_at, origin (not yet conformed); when declined, why (str).
    """
    try:
        table = _fetch(uri, cols, timeout)
        return _frame(table, cols, missing, max_value_bytes, source, origin)
    except _Declined as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any driver/Arrow error: the reference decides
        # (busy, corrupt, a type ADBC refuses mid-stream, ...): the reference reads the
        # database again and reports what it finds, exactly as without this path.
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return f"ADBC/Arrow error {type(exc).__name__}: {first}".rstrip(": ")


def _fetch(uri: str, cols: list[str], timeout: float) -> pa.Table:
    import adbc_driver_sqlite.dbapi as adbc

    text = [c for c in _TEXT_COLUMNS if c in cols]
    select = list(cols)
    if text:
        # one bit per text column holding anything but TEXT or NULL, computed in the same
        # scan (a separate census would read the whole table a second time)
        select.append(
            " | ".join(f"((typeof({c}) NOT IN ('text', 'null')) << {i})"
                       for i, c in enumerate(text)) + f" AS {_FLAG}"
        )
    sql = f"SELECT {', '.join(select)} FROM dead_letters ORDER BY id"
    # autocommit: no BEGIN of the driver's own; the one SELECT is one read transaction
    conn = adbc.connect(uri, autocommit=True)
    try:
        cur = conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            cur.fetchall()
            cur.execute("PRAGMA encoding")
            if cur.fetchall() != [("UTF-8",)]:
                raise _Declined("text stored as UTF-16: converted by two SQLite builds")
            cur.adbc_statement.set_options(
                **{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)}
            )
            cur.execute(sql)
            reader = cur.fetch_record_batch()
            batches = []
            for batch in reader:
                # decline at the first batch with a non-text value, not after the scan
                if text and _flagged(batch.column(_FLAG)):
                    raise _Declined("a text column holds a number or a BLOB")
                batches.append(batch)
            return pa.Table.from_batches(batches, schema=reader.schema)
        finally:
            cur.close()
    finally:
        conn.close()


def _flagged(flags: pa.Array) -> bool:
    """True unless every row's flag is 0 (the expression is never NULL: typeof() is not)."""
    if flags.type != pa.int64() or flags.null_count:
        return True
    return bool(pc.max(flags).as_py())


def _frame(
    table: pa.Table, cols: list[str], missing: list[str], max_value_bytes: int,
    source: str, origin: str,
) -> pd.DataFrame:
    n = table.num_rows
    if n == 0:
        raise _Declined("no rows: the reference is as fast")

    ids = table["id"]
    if ids.type != pa.int64() or ids.null_count:
        raise _Declined("an id is not an integer")
    id_values = ids.to_numpy()
    if n > 1 and not bool((id_values[1:] > id_values[:-1]).all()):
        raise _Declined("ids not strictly increasing: ties are ordered by the engine")

    # the reference builds the same values from Python lists; schemas.conform then casts
    # both alike (categories sorted, dtypes checked)
    out: dict[str, Any] = {
        "source": pd.Categorical.from_codes(
            np.zeros(n, dtype=np.int8), dtype=pd.CategoricalDtype(pd.Index([source], dtype="str"))
        ),
        "id": id_values,
    }
    for c in ("job_id", "scene_id"):
        out[c] = _int(table, c, missing, n)
    out["error_type"] = _category(_text(table, "error_type", missing, n, max_value_bytes))
    for c in ("error_message", "stack_trace"):
        out[c] = pd.array(_text(table, c, missing, n, max_value_bytes), dtype=_STR)
    out["retry_count"] = _int(table, "retry_count", missing, n)
    out["failed_at"] = _times(table, missing, n, max_value_bytes)
    out["origin"] = pd.array(pa.chunked_array([pa.array([origin], pa.large_string())])
                             .take(pa.array(np.zeros(n, dtype=np.int32))), dtype=_STR)
    return pd.DataFrame(out, copy=False)


def _int(table: pa.Table, name: str, missing: list[str], n: int) -> pd.arrays.IntegerArray:
    if name in missing:
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    col = table[name]
    if col.type != pa.int64():  # ADBC inferred REAL or text from the first batch
        raise _Declined(f"{name} holds a value that is not an integer")
    return pd.Int64Dtype().__from_arrow__(col)


def _text(
    table: pa.Table, name: str, missing: list[str], n: int, max_value_bytes: int
) -> pa.ChunkedArray:
    """Column *name* as ``large_string`` (pandas' ``str`` storage), validated."""
    if name in missing:
        return pa.chunked_array([pa.nulls(n, pa.large_string())])
    col = table[name]
    if col.type == pa.int64() and col.null_count == n:
        # ADBC types a column it saw only NULLs in as int64
        return pa.chunked_array([pa.nulls(n, pa.large_string())])
    if col.type != pa.string():
        raise _Declined(f"{name} is not text")
    for chunk in col.chunks:
        chunk.validate(full=True)  # UTF-8: the reference decodes invalid bytes with U+FFFD
    # the reference's SQLite refuses a longer value (SQLITE_LIMIT_LENGTH); >= keeps clear
    # of the exact boundary, which no real DLQ value comes near
    if col.null_count < n and pc.max(pc.binary_length(col)).as_py() >= max_value_bytes:
        raise _Declined(f"a {name} value is as long as the reference's limit")
    # string -> large_string rewrites the offsets only; the character data is shared
    return col.cast(pa.large_string())


def _category(col: pa.ChunkedArray) -> pd.Categorical:
    """A categorical whose categories are the values present (``conform`` sorts them)."""
    enc = pc.dictionary_encode(col.combine_chunks())
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    cats = pd.Index(pd.array(enc.dictionary, dtype=_STR))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats))


def _times(
    table: pa.Table, missing: list[str], n: int, max_value_bytes: int
) -> pd.arrays.DatetimeArray:
    """``failed_at`` as UTC times, only when every value is ``YYYY-MM-DD HH:MM:SS``.

    Arrow's ISO-8601 parser refuses what pandas' refuses in that form (Feb 30, hour 24,
    second 60, ...) and accepts other forms too: formatting the parsed seconds back and
    comparing with the text keeps exactly the canonical form, for which both parsers
    give the same proleptic-Gregorian second. Anything else declines (pandas' ISO-8601
    parser and its bad_time issues stay the reference's business).
    """
    text = _text(table, "failed_at", missing, n, max_value_bytes)
    if text.null_count == n:
        return pd.array(np.full(n, np.datetime64("NaT", "us"))).tz_localize("UTC")
    seconds = text.cast(pa.timestamp("s"))  # raises on an invalid time: declined
    if not pc.all(pc.equal(seconds.cast(pa.large_string()), text)).as_py():
        raise _Declined("failed_at not in the canonical YYYY-MM-DD HH:MM:SS form")
    ticks = seconds.cast(pa.int64())
    if seconds.null_count < n and not (
        plausible(pc.min(ticks).as_py()) and plausible(pc.max(ticks).as_py())
    ):
        raise _Declined("failed_at outside the plausible window: the reference reports it")
    return _UTC_US.__from_arrow__(seconds.cast(pa.timestamp("us", tz="UTC")))
