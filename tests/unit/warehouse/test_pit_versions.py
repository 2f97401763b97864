"""The content-hash versioning shared by both point-in-time loaders (griddesk.warehouse.pit)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from griddesk.warehouse.loader import DeliveryMeta, LoadError, version_publication
from griddesk.warehouse.pit import content_version, versioned_write

T0 = datetime(2016, 6, 14, 10, 0, tzinfo=UTC)


def test_same_content_as_the_newest_adds_nothing_else_a_new_version():
    assert content_version([], "a") == (True, 1)
    assert content_version([(2, "b"), (1, "a")], "b") == (False, 2)
    assert content_version([(2, "b"), (1, "a")], "a") == (True, 3)  # only the newest counts here
    assert content_version([(2, "b"), (1, "a")], "c") == (True, 3)


def _meta(revision: int = 1, created: datetime | None = None, extracted: datetime = T0) -> DeliveryMeta:
    return DeliveryMeta(
        "day_ahead_prices",
        "FR",
        "price",
        date(2016, 6, 15),
        T0,
        extracted,
        "http://x",
        revision_number=revision,
        document_created_utc=created,
        currency="EUR",
    )


def test_entsoe_versions_build_on_the_shared_rule():
    later = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)
    assert version_publication(_meta(), "a", []) == (1, T0)
    assert version_publication(_meta(), "a", [(1, "a", T0)]) == 1
    # a revision announces its own publication
    assert version_publication(_meta(2, later), "b", [(1, "a", T0)]) == (2, later)
    # an older view of the same history adds nothing
    assert version_publication(_meta(), "a", [(2, "b", later), (1, "a", T0)]) == 1
    # changed without an announcement: stamped when first seen, refused when that is not later
    assert version_publication(_meta(extracted=later), "c", [(1, "a", T0)]) == (2, later)
    with pytest.raises(LoadError):
        version_publication(_meta(), "c", [(1, "a", T0)])


class _Cursor:
    def __init__(self, log):
        self.log, self.rows = log, []

    def execute(self, sql, params=None):
        self.log.append((" ".join(sql.split()), params))
        self.rows = [(1, "a")] if "from versions" in sql else []

    def fetchall(self):
        return self.rows

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Conn:
    def __init__(self):
        self.log, self.ended = [], []

    def cursor(self):
        return _Cursor(self.log)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        self.ended.append("rollback" if exc_type else "commit")
        return False


def test_a_versioned_write_locks_reads_the_versions_and_commits_or_rolls_back():
    conn = _Conn()
    with versioned_write(conn, "k", "select v, d from versions where u = %s", ("u",)) as (cur, stored):
        assert stored == [(1, "a")]
    assert conn.log[0] == ("select pg_advisory_xact_lock(hashtextextended(%s, 0))", ("k",))
    assert conn.log[1] == ("select v, d from versions where u = %s", ("u",))
    assert conn.ended == ["commit"]
    with pytest.raises(RuntimeError), versioned_write(conn, "k", "select v, d from versions", ()):
        raise RuntimeError("boom")
    assert conn.ended == ["commit", "rollback"]
