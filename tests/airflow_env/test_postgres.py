"""The private PostgreSQL server of the production tests: its own data directory, its own PID, data kept on restart."""

from __future__ import annotations

import contextlib
import os

import psutil

from tests.airflow_env.postgres import PostgresServer


def test_start_create_restart_and_stop_by_pid() -> None:
    server = PostgresServer()
    try:
        server.start()
        first_pid = server.pid
        assert first_pid is not None
        proc = psutil.Process(first_pid)
        assert proc.exe().endswith("/bin/postgres")
        assert str(server.data_dir) in " ".join(proc.cmdline())
        if os.geteuid() == 0:
            assert proc.username() != "root"  # initdb and postgres refuse root: it runs unprivileged
        url = server.create_database("airflow")
        assert url == f"postgresql+psycopg2://airflow@127.0.0.1:{server.port}/airflow"
        with contextlib.closing(server.connect("airflow")) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE kept (n int)")
            cur.execute("INSERT INTO kept VALUES (42)")
        server.restart()
        assert server.pid not in (None, first_pid) and not psutil.pid_exists(first_pid)
        with contextlib.closing(server.connect("airflow")) as conn, conn.cursor() as cur:
            cur.execute("SELECT n FROM kept")
            assert cur.fetchall() == [(42,)]
        second_pid = server.pid
        server.stop()
        assert server.pid is None and not psutil.pid_exists(second_pid)
    finally:
        server.cleanup()
    assert not server.base_dir.exists()
