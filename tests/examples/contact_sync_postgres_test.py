#!/usr/bin/env python3
"""contact_sync on PostgreSQL (docs/examples.md), on the server scripts/with-postgres started.

With --db and --remote both PostgreSQL databases: --init N on an empty database creates the
tables and the demo contacts, and the run pushes each of them once; a second run sends nothing;
two changed contacts are the only ones pushed next; an outage stops the run with exit 75,
losing nothing, and the next run catches up; injected transient failures end with every contact
in the remote once per version. Then PostgreSQL with a SQLite remote and the other way round,
--init on a database that already holds contacts, and a missing database (exit 1, with what to
fix). Every check reads the databases with psql or sqlite3's Python module.

    contact_sync_postgres_test.py BINARY [--contacts 600]
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "postgres"))
from pg_support import check, fresh_database, psql, require_server  # noqa: E402

OK, AGAIN, USAGE = 0, 75, 1


def rows(sql, dbname):
    out = psql(sql, dbname)
    return [tuple(line.split("|")) for line in out.splitlines()] if out else []


class Sync:
    def __init__(self, binary, db, remote):
        self.base = [binary, "--db", db, "--remote", remote, "--chunk", "50", "--report", "json"]

    def run(self, *extra, expect=(OK,)):
        p = subprocess.run(self.base + list(extra), capture_output=True, text=True)
        check(p.returncode in expect, f"{' '.join(extra)}: exit {p.returncode}, expected {expect}\n{p.stderr[-3000:]}")
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def local_contacts(dbname):
    return sorted((int(i), n, e, int(w)) for i, n, e, w in
                  rows("SELECT id, name, email, write_date FROM contact", dbname))


def check_remote_matches(local, remote, requests, what):
    check(remote == local, f"{what}: the remote's contacts differ from the local ones "
          f"({len(remote)} against {len(local)})")
    keys = {k for k, _, _ in requests}
    check(len(keys) == len(requests), f"{what}: a request key was applied twice")
    for key, contact, version in requests:
        check(key == f"contact_sync:{contact}/{version}", f"{what}: request {key} names {contact}/{version}")


def both_postgres(args):
    local_uri, remote_uri = fresh_database("contacts"), fresh_database("crm")
    sync = Sync(args.binary, local_uri, remote_uri)
    n = args.contacts

    status, r, _ = sync.run("--init", str(n))
    check(r["seen"] == n and r["done"] == n and r["failed"] == 0, f"--init {n}: report {r}")
    local = local_contacts("contacts")
    check(local == [(i, f"Contact {i}", f"contact{i}@example.com", 1700000000 + i) for i in range(1, n + 1)],
          "--init did not create the demo contacts")

    def remote_state():
        remote = sorted((int(i), nm, e, int(v)) for i, nm, e, v in
                        rows("SELECT contact_id, name, email, version FROM remote_contact", "crm"))
        requests = [(k, int(c), int(v)) for k, c, v in
                    rows("SELECT idempotency_key, contact_id, version FROM remote_request", "crm")]
        return remote, requests

    remote, requests = remote_state()
    check_remote_matches(local, remote, requests, "first run")
    check(len(requests) == n, f"first run: {len(requests)} requests, expected {n}")

    _, again, _ = sync.run()
    check(again["done"] == 0, f"a second run pushed again: {again}")
    check(len(remote_state()[1]) == n, "a second run sent requests")

    psql("UPDATE contact SET email = 'new@example.com', write_date = (SELECT max(write_date) + 1 FROM contact) "
         "WHERE id IN (7, 42)", "contacts")
    _, changed, _ = sync.run()
    check(changed["done"] == 2 and changed["seen"] == 3,
          f"two changed contacts: report {changed}, expected seen 3 (with the one at the checkpoint), done 2")

    psql("UPDATE contact SET name = 'Renamed ' || id, write_date = (SELECT max(write_date) FROM contact) + id "
         "WHERE id <= 20", "contacts")
    status, down, _ = sync.run("--outage", expect=(AGAIN,))
    check(down["done"] == 0 and down["stopped_early"], f"an outage: report {down}")
    check(psql("SELECT count(*) FROM sturdy_failure", "contacts") == "0", "an outage left failure records")
    _, back, _ = sync.run()
    check(back["done"] == 20, f"after the outage: report {back}, expected the 20 renamed contacts pushed")

    psql("UPDATE contact SET email = 'c' || id || '@changed.example', "
         "write_date = (SELECT max(write_date) FROM contact) + id WHERE id % 5 = 0", "contacts")
    retried = 0
    for attempt in range(10):
        status, r, _ = sync.run("--outage-rate", "0.2", "--seed", str(attempt + 1), expect=(OK, AGAIN))
        retried += r["retried"]
        if status == OK:
            break
    check(status == OK, "injected failures: still work remaining after 10 runs")
    check(retried > 0, "injected failures: nothing was retried")
    remote, requests = remote_state()
    check_remote_matches(local_contacts("contacts"), remote, requests, "injected failures")
    check(psql("SELECT count(*) FROM sturdy_ledger WHERE namespace = 'contact_sync'", "contacts") ==
          str(len(requests)), "the ledger does not match the requests the remote applied")

    _, _, err = sync.run("--init", "5")
    check("already holds contacts; none added" in err, f"--init on a database with contacts says: {err}")
    print(f"PostgreSQL to PostgreSQL: {n} contacts pushed once each; changes, an outage and injected "
          f"failures ({retried} retries) handled; {len(requests)} requests in all")


def mixed(args, tmp):
    uri = fresh_database("mixed")
    remote_file = os.path.join(tmp, "crm.db")
    _, r, _ = Sync(args.binary, uri, remote_file).run("--init", "120")
    check(r["done"] == 120, f"PostgreSQL with a SQLite remote: report {r}")
    with sqlite3.connect(remote_file) as remote:
        check(remote.execute("SELECT count(*) FROM remote_request").fetchone()[0] == 120,
              "PostgreSQL with a SQLite remote: the remote does not hold 120 requests")

    local_file = os.path.join(tmp, "contacts.db")
    remote_uri = fresh_database("mixed_crm")
    _, r, _ = Sync(args.binary, local_file, remote_uri).run("--init", "80")
    check(r["done"] == 80, f"SQLite with a PostgreSQL remote: report {r}")
    check(psql("SELECT count(*) FROM remote_contact", "mixed_crm") == "80",
          "SQLite with a PostgreSQL remote: the remote does not hold 80 contacts")
    print("PostgreSQL with a SQLite remote, and SQLite with a PostgreSQL remote: every contact pushed")


def bad_connection(args, tmp):
    missing = fresh_database("present").replace("/present", "/absent")
    p = subprocess.run([args.binary, "--db", missing, "--remote", os.path.join(tmp, "r.db")],
                       capture_output=True, text=True)
    check(p.returncode == USAGE, f"a missing database exits {p.returncode}, expected 1")
    check("cannot connect to PostgreSQL" in p.stderr and "create the database" in p.stderr,
          f"a missing database says: {p.stderr}")
    print("a missing database: exit 1, with what to fix")


def main():
    require_server()
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--contacts", type=int, default=600)
    args = p.parse_args()
    both_postgres(args)
    with tempfile.TemporaryDirectory() as tmp:
        mixed(args, tmp)
        bad_connection(args, tmp)


if __name__ == "__main__":
    main()
