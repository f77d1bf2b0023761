#!/usr/bin/env python3
"""subscription_invoicing on PostgreSQL, several processes at once (docs/examples.md).

On the server scripts/with-postgres started: --init N on an empty database, then WORKERS
processes started together over the same database, then a second set; checks with SQL that
every due (subscription, period) was invoiced exactly once, with its line, that poison
subscriptions left nothing and were failed once each, that the second set did nothing, and that
a bad connection string exits 1 with the reason.

    invoicing_postgres_test.py BINARY [--subscriptions 1500] [--workers 4]
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "postgres"))
from pg_support import check, fresh_database, psql, require_server  # noqa: E402

THROUGH = "2025-06"


def run_set(cmd, workers):
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(workers)]
    reports = []
    for p in procs:
        out, err = p.communicate()
        check(p.returncode in (0, 75), f"exit {p.returncode}\n{err[-3000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def main():
    require_server()
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--subscriptions", type=int, default=1500)
    p.add_argument("--workers", type=int, default=4)
    args = p.parse_args()
    n = args.subscriptions

    uri = fresh_database("invoicing")
    base = [args.binary, "--db", uri, "--through", THROUGH, "--chunk", "50", "--report", "json"]

    init = subprocess.run(base + ["--init", str(n), "--deadline", "0.001"], capture_output=True, text=True)
    check(init.returncode in (0, 75), f"--init: exit {init.returncode}\n{init.stderr[-3000:]}")
    check(psql("SELECT count(*) FROM subscription", "invoicing") == str(n), "--init did not create the subscriptions")
    # Start the set while nothing, or little, is invoiced: the workers split the work.
    psql("TRUNCATE invoice_line, invoice, sturdy_ledger, sturdy_failure", "invoicing")

    reports = run_set(base, args.workers)
    active = [i for i in range(1, n + 1) if i % 50 != 0]
    good = sum(i % 12 + 1 for i in active if i % 97 != 0)
    poison = sum(i % 12 + 1 for i in active if i % 97 == 0)
    q = lambda sql: psql(sql, "invoicing")
    check(q("SELECT count(*) FROM invoice") == str(good), f"{q('SELECT count(*) FROM invoice')} invoices, expected {good}")
    check(q("SELECT count(*) FROM (SELECT 1 FROM invoice GROUP BY subscription_id, period HAVING count(*) > 1) d") == "0",
          "a (subscription, period) was invoiced twice")
    check(q("SELECT count(*) FROM invoice i WHERE NOT EXISTS (SELECT 1 FROM invoice_line l WHERE l.invoice_id = i.id)")
          == "0", "an invoice has no line")
    check(q(f"SELECT count(*) FROM invoice WHERE period !~ '^[0-9]{{4}}-[0-9]{{2}}$' OR period > '{THROUGH}'") == "0",
          "an invoice has a malformed period")
    check(q("SELECT count(*) FROM invoice i JOIN subscription s ON s.id = i.subscription_id WHERE s.id % 97 = 0") == "0",
          "a poison subscription left an invoice")
    done = sum(r["done"] for r in reports)
    failed = sum(r["failed"] for r in reports)
    check(done == good, f"the workers report {done} done, expected {good}")
    check(failed == poison, f"the workers report {failed} failed, expected {poison} (each poison item once)")
    busy = sum(1 for r in reports if r["done"] > 0)
    check(busy >= 2, f"only {busy} of {args.workers} workers invoiced anything")

    again = run_set(base, args.workers)
    check(sum(r["done"] for r in again) == 0, "a second set of runs invoiced again")
    check(q("SELECT count(*) FROM invoice") == str(good), "a second set of runs changed the invoices")

    bad = subprocess.run([args.binary, "--db", "postgresql://nobody@127.0.0.1:1/nothing", "--through", THROUGH],
                         capture_output=True, text=True)
    check(bad.returncode == 1, f"a bad connection exits {bad.returncode}, expected 1")
    check("cannot connect to PostgreSQL" in bad.stderr, f"a bad connection says: {bad.stderr}")
    print(f"{args.workers} processes: {good} due (subscription, period) invoiced once each "
          f"(per process {[r['done'] for r in reports]}), {poison} poison items failed once each; "
          "a second set did nothing")


if __name__ == "__main__":
    main()
