"""What the PostgreSQL tests written in Python share (tests/postgres/workers_test.py,
tests/examples/*_postgres_test.py): failing with a message, psql, and a fresh database on the
throwaway server scripts/with-postgres started. Outside scripts/with-postgres they fail, saying
so: they never skip."""

import os
import subprocess
import sys
import urllib.parse


def fail(message):
    print(f"FAILED: {message}", flush=True)
    sys.exit(1)


def check(cond, message):
    if not cond:
        fail(message)


def require_server():
    """Fails unless scripts/with-postgres started a server for this test (it sets
    STURDY_TEST_POSTGRES and libpq's PGHOST, PGPORT, PGUSER)."""
    missing = [v for v in ("STURDY_TEST_POSTGRES", "PGHOST", "PGPORT", "PGUSER") if not os.environ.get(v)]
    check(not missing, f"{', '.join(missing)} not set: run this test through meson test, or under "
          "scripts/with-postgres, which starts a throwaway PostgreSQL server")


def psql(sql, dbname="postgres"):
    """Runs `sql` in `dbname` and returns what it prints, unaligned, without headers."""
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def fresh_database(name):
    """Creates database `name` (dropping any earlier one) and returns a libpq URI for it."""
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    return (f"postgresql://{os.environ['PGUSER']}@{urllib.parse.quote(os.environ['PGHOST'], safe='')}:"
            f"{os.environ['PGPORT']}/{name}")
