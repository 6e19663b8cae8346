"""ensure_tables creates what is missing, on both backends, and costs one catalog query when nothing is."""

from __future__ import annotations

from salestalk.names import AUDIT, CURATED, QUARANTINE_SCHEMA, STAGING
from salestalk.warehouse import tables
from salestalk.warehouse.tables import BATCH_RESULTS, STAGING_LOADS, STEP_RUNS, verdicts_table
from tests.support.sources import a_source


class Counting:
    """A session that counts the statements sent through it."""

    def __init__(self, session) -> None:
        self.session, self.dialect, self.sent = session, session.dialect, []

    def execute(self, sql, params=None):
        self.sent.append(sql)
        return self.session.execute(sql, params)

    def fetchall(self, sql, params=None):
        self.sent.append(sql)
        return self.session.fetchall(sql, params)


def own_tables(source) -> list[tuple[str, str]]:
    return [
        (STAGING, source.name),
        (QUARANTINE_SCHEMA, source.name),
        (CURATED, source.name),
        (AUDIT, verdicts_table(source.name)),
    ]


SHARED = [(AUDIT, STAGING_LOADS), (AUDIT, BATCH_RESULTS), (AUDIT, STEP_RUNS)]


def test_missing_tables_are_created_and_present_ones_cost_one_query(warehouse) -> None:
    first = a_source()
    second = first.model_copy(update={"name": f"{first.name}_probe"})
    with warehouse.connect() as s:
        counted = Counting(s)
        tables.ensure_tables(counted, first)
        assert all(tables.table_exists(s, *t) for t in [*own_tables(first), *SHARED])
        assert not any(tables.table_exists(s, *t) for t in own_tables(second))

        counted.sent.clear()
        tables.ensure_tables(counted, first)
        assert len(counted.sent) == 1, counted.sent

        tables.ensure_tables(counted, second)
        assert all(tables.table_exists(s, *t) for t in own_tables(second))

        s.execute(f"DROP TABLE {s.dialect.table(CURATED, first.name)}")
        counted.sent.clear()
        tables.ensure_tables(counted, first)
        created = [sql for sql in counted.sent if sql.startswith("CREATE TABLE")]
        assert len(created) == 1 and s.dialect.table(CURATED, first.name) in created[0]
        assert tables.table_exists(s, CURATED, first.name)
