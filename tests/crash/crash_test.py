#!/usr/bin/env python3
"""Kill-anywhere crash test of the SQLite examples (docs/examples.md).

Runs each example again and again, killing it with SIGKILL at random instants, with random
transient failures and poison subscriptions, adding work between runs as other programs would
(a new month to invoice, new subscriptions, changed contacts); then lets it finish and checks
with SQL that nothing was lost and nothing duplicated. Each example runs twice, with each of
its ledgers: invoicing with the invoice table's unique key (its default) and with --ledger table
(sturdy_ledger); contact_sync with sturdy_ledger (its default) and with --ledger marker.

    crash_test.py --invoicing build/examples/subscription_invoicing \
                  --contacts build/examples/contact_sync [--kills 50] [--seed S]

STURDY_CRASH_KILLS overrides --kills (1000 for the long run), STURDY_CRASH_SEED overrides
--seed. The seed is printed: rerun with it to replay the same kill delays, fault seeds and data
(where each kill lands also depends on the machine's speed, so the replay is close, not exact).
Timing decides only where a kill lands, never whether the checks pass.
"""

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

OK, AGAIN = 0, 75


class Runner:
    def __init__(self, name, rng):
        self.name = name
        self.rng = rng
        self.kills = 0
        self.finished = 0
        self.estimate = 0.3  # seconds a run takes, learned from the runs that finished

    def run(self, cmd, kill):
        """Runs cmd; with kill, SIGKILLs it after a random delay. Returns the exit status or None if killed."""
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        delay = self.rng.uniform(0, self.estimate * 1.2) if kill else None
        try:
            out, err = proc.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            self.kills += 1
            return None, "", ""
        elapsed = time.monotonic() - start
        self.finished += 1
        self.estimate = 0.8 * self.estimate + 0.2 * max(elapsed, 0.02)
        out, err = out.decode(), err.decode()
        if proc.returncode not in (OK, AGAIN):
            fail(f"{self.name}: exit status {proc.returncode} from {' '.join(cmd)}\n{err[-3000:]}")
        return proc.returncode, out, err

    def finish(self, cmd, max_runs=30):
        """Runs cmd until it exits 0; returns its JSON report."""
        for _ in range(max_runs):
            status, out, _ = self.run(cmd + ["--report", "json"], kill=False)
            if status == OK:
                return json.loads(out.strip().splitlines()[-1])
        fail(f"{self.name}: still exit 75 after {max_runs} runs without kills")


def fail(message):
    print(f"FAILED: {message}", flush=True)
    sys.exit(1)


def check(cond, message):
    if not cond:
        fail(message)


# --- subscription_invoicing ----------------------------------------------------------------

def month_add(period, n):
    y, m = map(int, period.split("-"))
    i = y * 12 + m - 1 + n
    return f"{i // 12:04}-{i % 12 + 1:02}"


def months(start, end):
    out, p = [], start
    while p <= end:
        out.append(p)
        p = month_add(p, 1)
    return out


def invoicing(binary, kills, rng, workdir, ledger):
    """ledger: "unique-key" (the invoice table's unique key is the ledger) or "table" (sturdy_ledger)."""
    db = os.path.join(workdir, f"invoicing-{ledger}.db")
    r = Runner("subscription_invoicing", rng)
    through = "2024-06"
    base = [binary, "--db", db, "--chunk", str(rng.choice([5, 20, 50])), "--quarantine-after", "3",
            "--ledger", ledger]
    next_id = 301
    print(f"subscription_invoicing: {' '.join(base)} --init 300 ...", flush=True)
    attempts = 0
    while r.kills < kills:
        attempts += 1
        check(attempts < kills * 20, "too few kills landed; is the program too fast to kill?")
        cmd = base + ["--through", through, "--fail-rate", str(rng.choice([0.0, 0.05, 0.2, 0.4])),
                      "--seed", str(rng.randrange(1 << 31))]
        if not os.path.exists(db) or rng.random() < 0.3:
            cmd += ["--init", "300"]  # adds nothing once the file holds subscriptions
        status, _, _ = r.run(cmd, kill=True)
        if status == OK and os.path.exists(db):
            # Done: more work arrives, as it would. A new month, and new subscriptions from another program.
            through = month_add(through, 1)
            with sqlite3.connect(db, timeout=30) as c:
                c.execute("PRAGMA busy_timeout=30000")
                for _ in range(rng.randrange(0, 5)):
                    amount = -700 if rng.random() < 0.2 else rng.randrange(100, 5000)
                    c.execute("INSERT INTO subscription(id, partner, amount_cents, start_period, active) "
                              "VALUES(?, ?, ?, ?, ?)", (next_id, f"late-{next_id}", amount,
                                                        month_add(through, -rng.randrange(0, 6)), 1))
                    next_id += 1
    # --init: a kill that landed before the file was created leaves none (it adds nothing otherwise).
    report = r.finish(base + ["--through", through, "--fail-rate", "0.2", "--seed", "1", "--init", "300"])
    check(report["remaining"] == 0 and report["awaiting_retry"] == 0, f"final report: {report}")

    c = sqlite3.connect(db)
    check(c.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check")
    dup = c.execute("SELECT subscription_id, period, count(*) FROM invoice GROUP BY 1, 2 HAVING count(*) > 1").fetchall()
    check(not dup, f"duplicate invoices: {dup[:10]}")
    lineless = c.execute("SELECT id FROM invoice i WHERE NOT EXISTS "
                         "(SELECT 1 FROM invoice_line l WHERE l.invoice_id = i.id)").fetchall()
    check(not lineless, f"invoices without a line: {lineless[:10]}")
    wrong = c.execute("SELECT id FROM invoice i WHERE amount_cents != "
                      "(SELECT sum(amount_cents) FROM invoice_line l WHERE l.invoice_id = i.id)").fetchall()
    check(not wrong, f"invoice amount differs from its lines: {wrong[:10]}")
    invoiced = set(c.execute("SELECT subscription_id, period FROM invoice"))
    marked = {k for (k,) in c.execute("SELECT item_key FROM sturdy_ledger WHERE namespace = 'invoice'")}
    quarantined = {k for (k,) in c.execute(
        "SELECT item_key FROM sturdy_failure WHERE namespace = 'invoice' AND quarantined")}
    expected, poison = set(), set()
    for sid, amount, start, active in c.execute("SELECT id, amount_cents, start_period, active FROM subscription"):
        if not active:
            continue
        for p in months(start, through):
            (poison if amount < 0 else expected).add((sid, p))
    missing = expected - invoiced
    check(not missing, f"{len(missing)} due periods never invoiced, e.g. {sorted(missing)[:10]}")
    extra = invoiced - expected
    check(not extra, f"{len(extra)} invoices that are not due or are for poison subscriptions: {sorted(extra)[:10]}")
    if ledger == "table":
        check(marked == {f"{s}/{p}" for s, p in expected}, "the ledger and the invoices disagree")
    else:  # the invoices are the ledger: sturdy writes no row of its own per item
        check(not marked, f"{len(marked)} sturdy_ledger rows written with the unique-key ledger")
    poison_keys = {f"{s}/{p}" for s, p in poison}
    check(poison_keys == quarantined, f"poison keys not quarantined: {sorted(poison_keys - quarantined)[:10]}, "
                                      f"quarantined healthy keys: {sorted(quarantined - poison_keys)[:10]}")
    print(f"subscription_invoicing (--ledger {ledger}): {r.kills} kills, {r.finished} runs finished, through {through}: "
          f"{len(invoiced)} invoices, {len(poison_keys)} poison keys quarantined, no duplicate, none missing",
          flush=True)


# --- contact_sync ----------------------------------------------------------------------------

def contact_sync(binary, kills, rng, workdir, ledger):
    """ledger: "table" (sturdy_ledger, the default) or "marker" (the contact's synced_write_date)."""
    db = os.path.join(workdir, f"local-{ledger}.db")
    remote = os.path.join(workdir, f"remote-{ledger}.db")
    r = Runner("contact_sync", rng)
    base = [binary, "--db", db, "--remote", remote, "--chunk", str(rng.choice([5, 20, 50])), "--ledger", ledger]
    print(f"contact_sync: {' '.join(base)} --init 500 ...", flush=True)
    attempts = 0
    while r.kills < kills:
        attempts += 1
        check(attempts < kills * 20, "too few kills landed; is the program too fast to kill?")
        cmd = base + ["--outage-rate", str(rng.choice([0.0, 0.05, 0.2, 0.4])), "--seed", str(rng.randrange(1 << 31))]
        if rng.random() < 0.05:
            cmd.append("--outage")
        if not os.path.exists(db) or rng.random() < 0.3:
            cmd += ["--init", "500"]
        status, _, _ = r.run(cmd, kill=True)
        if os.path.exists(db) and rng.random() < 0.5:
            # Users change contacts between runs; write_date increases on every change.
            with sqlite3.connect(db, timeout=30) as c:
                n = c.execute("SELECT count(*) FROM contact").fetchone()[0] if table_exists(c, "contact") else 0
                for _ in range(rng.randrange(0, 30) if n else 0):
                    cid = rng.randrange(1, n + 1)
                    c.execute("UPDATE contact SET email = ?, write_date = (SELECT max(write_date) + 1 FROM contact) "
                              "WHERE id = ?", (f"c{cid}-{rng.randrange(1 << 20)}@example.com", cid))
    report = r.finish(base + ["--outage-rate", "0.2", "--seed", "1", "--init", "500"])
    check(report["remaining"] == 0 and report["awaiting_retry"] == 0, f"final report: {report}")

    c = sqlite3.connect(db)
    c.execute("ATTACH ? AS remote", (remote,))
    for schema in ("main", "remote"):
        check(c.execute(f"PRAGMA {schema}.integrity_check").fetchone()[0] == "ok", f"integrity_check {schema}")
    diff = c.execute("SELECT l.id FROM contact l LEFT JOIN remote.remote_contact r ON r.contact_id = l.id "
                     "WHERE r.name IS NOT l.name OR r.email IS NOT l.email OR r.version IS NOT l.write_date").fetchall()
    check(not diff, f"{len(diff)} contacts differ between local and remote, e.g. {diff[:10]}")
    orphans = c.execute("SELECT count(*) FROM remote.remote_contact WHERE contact_id NOT IN (SELECT id FROM contact)").fetchone()[0]
    check(orphans == 0, f"{orphans} remote contacts that do not exist locally")
    bad_keys = c.execute("SELECT count(*) FROM remote.remote_request WHERE "
                         "idempotency_key != 'contact_sync:' || contact_id || '/' || version").fetchone()[0]
    check(bad_keys == 0, "remote requests whose key does not match their contact and version")
    if ledger == "marker":  # the marker is the version pushed, and sturdy writes no row of its own
        unmarked = c.execute("SELECT count(*) FROM contact WHERE synced_write_date IS NOT write_date").fetchone()[0]
        check(unmarked == 0, f"{unmarked} contacts whose marker is not the version pushed")
        marks = c.execute("SELECT count(*) FROM sturdy_ledger").fetchone()[0]
        check(marks == 0, f"{marks} sturdy_ledger rows written with the marker ledger")
    contacts = c.execute("SELECT count(*) FROM contact").fetchone()[0]
    requests = c.execute("SELECT count(*) FROM remote.remote_request").fetchone()[0]
    print(f"contact_sync (--ledger {ledger}): {r.kills} kills, {r.finished} runs finished: {contacts} contacts equal in the remote, "
          f"{requests} distinct pushes applied once each", flush=True)


def table_exists(c, name):
    return c.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (name,)).fetchone() is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoicing", required=True)
    ap.add_argument("--contacts", required=True)
    ap.add_argument("--kills", type=int, default=50, help="kills per example (STURDY_CRASH_KILLS overrides)")
    ap.add_argument("--seed", type=int, default=None, help="STURDY_CRASH_SEED overrides; random if neither")
    a = ap.parse_args()
    kills = int(os.environ.get("STURDY_CRASH_KILLS", a.kills))
    seed = int(os.environ.get("STURDY_CRASH_SEED", a.seed if a.seed is not None else random.randrange(1 << 31)))
    print(f"crash test: {kills} kills per example, seed {seed} (replay: STURDY_CRASH_SEED={seed})", flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sturdy-crash-") as workdir:
        for ledger in ("unique-key", "table"):
            invoicing(os.path.abspath(a.invoicing), kills, random.Random(f"{seed}/invoicing/{ledger}"), workdir, ledger)
        for ledger in ("table", "marker"):
            contact_sync(os.path.abspath(a.contacts), kills, random.Random(f"{seed}/contacts/{ledger}"), workdir, ledger)
    print(f"crash test passed in {time.monotonic() - start:.1f}s (seed {seed})", flush=True)


if __name__ == "__main__":
    main()
