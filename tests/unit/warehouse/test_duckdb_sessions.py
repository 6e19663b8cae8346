"""DuckDB sessions attach the warehouse file to one engine per process: between sessions the file is free for
other processes, and nothing of one session (transaction, temporary tables, another file) leaks into the next."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from salestalk.warehouse import tables
from salestalk.warehouse.duckdb import DuckDBWarehouse, engine


def other_process_reads(path) -> str:
    code = "import duckdb, sys; print(duckdb.connect(sys.argv[1]).execute('SELECT count(*) FROM t').fetchone()[0])"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def test_between_sessions_another_process_can_open_the_file_and_sees_every_commit(tmp_path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", lock_timeout_seconds=5)
    with warehouse.connect() as s:
        s.execute("CREATE TABLE t AS SELECT * FROM range(3)")
        assert "Conflicting lock" in other_process_reads(warehouse.path)
    assert other_process_reads(warehouse.path) == "3"
    with warehouse.connect() as s:
        s.execute("INSERT INTO t SELECT * FROM range(2)")
    assert other_process_reads(warehouse.path) == "5"


def test_an_unfinished_transaction_and_temporary_tables_end_with_their_session(tmp_path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", lock_timeout_seconds=5)
    with warehouse.connect() as s:
        s.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), warehouse.connect() as s:
        s.execute("CREATE TEMPORARY TABLE scratch AS SELECT 1 AS x")
        s.execute("BEGIN")
        s.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("the step failed mid-transaction")
    with warehouse.connect() as s:
        assert s.fetchall("SELECT count(*) FROM t") == [(0,)]
        assert s.fetchall("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scratch'") == [(0,)]
    assert engine().execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall() == [
        ("memory",)
    ]


def test_a_nested_session_shares_the_attached_file_and_the_outer_one_releases_it(tmp_path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", lock_timeout_seconds=5)
    with warehouse.connect() as outer:
        with DuckDBWarehouse(tmp_path / "." / "wh.duckdb", lock_timeout_seconds=5).connect() as inner:
            inner.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert outer.fetchall("SELECT x FROM t") == [(1,)]
    assert other_process_reads(warehouse.path) == "1"


def test_files_of_the_same_name_in_two_threads_see_only_their_own_tables(tmp_path) -> None:
    """The catalog is the file's stem (what lineage names); a second file of that name gets a suffix."""
    first = DuckDBWarehouse(tmp_path / "a" / "warehouse.duckdb", lock_timeout_seconds=5)
    second = DuckDBWarehouse(tmp_path / "b" / "warehouse.duckdb", lock_timeout_seconds=5)
    inside, leave = threading.Barrier(3), threading.Event()
    seen: dict[str, tuple] = {}

    def work(warehouse: DuckDBWarehouse, schema: str) -> None:
        with warehouse.connect() as s:
            s.execute(f"CREATE SCHEMA {schema}")
            s.execute(f"CREATE TABLE {schema}.t AS SELECT 1 AS x")
            inside.wait(timeout=30)
            seen[schema] = (
                s.fetchall("SELECT current_database()")[0][0],
                tables.table_exists(s, "left_side", "t"),
                tables.table_exists(s, "right_side", "t"),
            )
            leave.wait(timeout=30)

    threads = [
        threading.Thread(target=work, args=(first, "left_side")),
        threading.Thread(target=work, args=(second, "right_side")),
    ]
    for thread in threads:
        thread.start()
    inside.wait(timeout=30)
    leave.set()
    for thread in threads:
        thread.join(timeout=30)
    assert {catalog for catalog, _, _ in seen.values()} == {"warehouse", "warehouse_2"}
    assert seen["left_side"][1:] == (True, False)
    assert seen["right_side"][1:] == (False, True)


def test_a_forked_child_builds_its_own_engine(tmp_path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", lock_timeout_seconds=5)
    with warehouse.connect() as s:
        s.execute("CREATE TABLE t AS SELECT 7 AS x")
    parent = engine()
    pid = os.fork()
    if pid == 0:  # the child: Airflow forks task processes from a worker that may have used the warehouse
        code = 1
        try:
            with warehouse.connect() as s:
                code = 0 if engine() is not parent and s.fetchall("SELECT x FROM t") == [(7,)] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
