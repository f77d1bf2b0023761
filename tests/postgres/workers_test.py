#!/usr/bin/env python3
"""Several worker processes, one job, PostgreSQL as the only coordinator (docs/postgres.md).

Runs tests/postgres/claim_worker (sturdy::postgres::claim_rows) as several processes at once
over the same table, on the server scripts/with-postgres started (PGHOST, PGPORT, PGUSER), and
checks with SQL that every item's effect ran exactly once and never in two workers at once:

  split       WORKERS workers x ITEMS items, poison items among them: every good item done
              once, every poison item failed once and not looped over; a second set of runs
              does nothing
  kill        WORKERS workers, SIGKILLed at random instants and restarted (KILLS times), then
              run to the end: 0 lost, 0 duplicated; once with sturdy_ledger, once with the
              effect's own table as the ledger (a unique key)
  terminate   pg_terminate_backend of the workers' connections mid-run: they reconnect and
              finish, 0 lost, 0 duplicated
  restart     the server restarted mid-run ($STURDY_PG_CTL restart -m fast): the workers
              reconnect and finish, 0 lost, 0 duplicated
  poison      WORKERS workers with a failure budget, 2 % of the items failing on their own data:
              once the good ones are done the input holds only poison items, which fail in a
              row; they are recorded every run all the same and quarantined after 3 runs
              (quarantine_after), and then the runs end with nothing left to do

    workers_test.py WORKER_BINARY [--workers 4] [--items 20000] [--kill-items 10000] [--kills 12]
                    [--seed S] [--only split|kill|terminate|restart|poison]

STURDY_WORKERS_KILLS overrides --kills (the long run: STURDY_WORKERS_KILLS=500
--kill-items 100000, see docs/postgres.md). Timing decides only where kills land, never whether
the checks pass.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import time

from pg_support import check, fresh_database, psql, require_server

OK, AGAIN = 0, 75


class Job:
    def __init__(self, binary, name, items, chunk, poison, budget=0, ledger="table"):
        """ledger: "table" (sturdy_ledger) or "unique-key" (the effect's table done_item)."""
        self.ledger = ledger
        self.binary = binary
        self.budget = budget
        self.name = name
        self.chunk = chunk
        self.poison = poison
        fresh_database(name)
        self.conninfo = (f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user={os.environ['PGUSER']} "
                         f"dbname={name} application_name=claim_worker")
        subprocess.run([binary, self.conninfo, "setup", str(items)], check=True)
        self.items = items

    def start(self, worker):
        cmd = [self.binary, self.conninfo, "run", str(worker), str(self.chunk), str(self.poison)]
        if self.budget:
            cmd.append(str(self.budget))
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, CLAIM_WORKER_LEDGER=self.ledger))

    def finish(self, proc, worker):
        out, err = proc.communicate()
        check(proc.returncode in (OK, AGAIN), f"worker {worker}: exit {proc.returncode}\n{err[-3000:]}")
        report = json.loads(out.strip().splitlines()[-1])
        check(report["overlaps"] == 0, f"worker {worker}: {report['overlaps']} overlapping effects\n{err[-3000:]}")
        return report

    def run_all(self, workers):
        procs = [self.start(w) for w in range(1, workers + 1)]
        return [self.finish(p, w) for w, p in enumerate(procs, start=1)]

    def done_sql(self):
        if self.ledger == "unique-key":
            return "SELECT count(*) FROM done_item"
        return "SELECT count(*) FROM sturdy_ledger WHERE namespace = 'work'"

    def done(self):
        return int(psql(self.done_sql(), self.name))

    def check_exactly_once(self):
        q = lambda sql: psql(sql, self.name)
        poison = f"w.id % {self.poison} = 0" if self.poison else "false"
        missing = q(f"SELECT count(*) FROM work_item w WHERE NOT ({poison}) AND NOT EXISTS "
                    "(SELECT 1 FROM effect e WHERE e.item_id = w.id)")
        doubled = q("SELECT count(*) FROM (SELECT item_id FROM effect GROUP BY item_id HAVING count(*) > 1) d")
        poisoned = q(f"SELECT count(*) FROM effect e JOIN work_item w ON w.id = e.item_id WHERE {poison}")
        ledger = int(q(self.done_sql()))
        if self.ledger == "unique-key":
            marks = q("SELECT count(*) FROM sturdy_ledger")
            check(marks == "0", f"{self.name}: {marks} sturdy_ledger rows written with the unique-key ledger")
        good = int(q(f"SELECT count(*) FROM work_item w WHERE NOT ({poison})"))
        check(missing == "0", f"{self.name}: {missing} items lost (no effect)")
        check(doubled == "0", f"{self.name}: {doubled} items done twice")
        check(poisoned == "0", f"{self.name}: {poisoned} poison items left an effect")
        check(ledger == good, f"{self.name}: ledger holds {ledger} keys, expected {good}")
        return good


def split(args):
    job = Job(args.binary, "split", args.items, 100, 997)
    start = time.monotonic()
    reports = job.run_all(args.workers)
    elapsed = time.monotonic() - start
    good = job.check_exactly_once()
    poison = args.items // 997
    done = sum(r["done"] for r in reports)
    failed = sum(r["failed"] for r in reports)
    check(done == good, f"split: the workers report {done} done, expected {good}")
    check(failed == poison, f"split: the workers report {failed} failed, expected {poison} (each poison once)")
    busy = sum(1 for r in reports if r["done"] > 0)
    check(busy >= 2, f"split: only {busy} of {args.workers} workers did any work")
    failures = psql("SELECT count(*) FROM sturdy_failure WHERE namespace = 'work' AND runs = 1", "split")
    check(int(failures) == poison, f"split: {failures} failure records, expected {poison}")
    totals = subprocess.run([args.binary, job.conninfo, "totals"], check=True, capture_output=True,
                            text=True).stdout.split()
    check(totals == [str(good), str(poison), "0"],
          f"split: totals() says done, awaiting retry, quarantined = {totals}, expected {good} {poison} 0")
    again = job.run_all(args.workers)
    check(sum(r["done"] for r in again) == 0, "split: a second set of runs did work again")
    job.check_exactly_once()
    print(f"split: {args.workers} workers x {args.items} items in {elapsed:.1f}s, "
          f"per worker {[r['done'] for r in reports]}, {poison} poison items failed once each")


def poison_runs(args):
    items, poison_every = 2000, 50
    job = Job(args.binary, "poison", items, 25, poison_every, budget=10)
    poison = items // poison_every
    q = lambda sql: psql(sql, "poison")
    quarantined = lambda: int(q("SELECT count(*) FROM sturdy_failure WHERE namespace = 'work' AND quarantined"))
    # A worker leaves out keys that failed since it started, to the second (claim_rows), so a
    # round started within the second of the last one's failures may leave some for the next:
    # rounds go on until the poison items are quarantined, and each must have got there in the
    # third run that failed it.
    for n in range(1, 60):
        reports = job.run_all(args.workers)
        stopped = [r["stopped_early"] for r in reports if r["stopped_early"]]
        check(not stopped, f"poison: round {n}: the failure budget stopped a worker: {stopped[:1]}")
        if quarantined() == poison:
            break
    check(quarantined() == poison, f"poison: {quarantined()} quarantined after {n} rounds, expected {poison}")
    on_time = int(q("SELECT count(*) FROM sturdy_failure WHERE namespace = 'work' AND quarantined AND runs = 3"))
    check(on_time == poison, f"poison: {poison - on_time} poison items quarantined after more than 3 failed runs")
    last = job.run_all(args.workers)
    check(all(r["done"] == 0 and r["failed"] == 0 and r["awaiting_retry"] == 0 for r in last),
          f"poison: a round after the quarantine still worked: {last}")
    job.check_exactly_once()
    print(f"poison: {args.workers} workers, {poison} poison items of {items} quarantined in the 3rd run that "
          f"failed them ({n} rounds), the budget never tripped")


def kill(args, rng, ledger):
    job = Job(args.binary, "killed_" + ledger.replace("-", "_"), args.kill_items, 50, 0, ledger=ledger)
    procs = {w: job.start(w) for w in range(1, args.workers + 1)}
    kills = 0
    while kills < args.kills:
        time.sleep(rng.uniform(0.02, 0.25))
        victim = rng.choice(list(procs))
        proc = procs[victim]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            kills += 1
        else:
            job.finish(proc, victim)
        procs[victim] = job.start(victim)
        if job.done() == job.items:
            break  # the work ran out before the kills did
    for w, p in procs.items():
        job.finish(p, w)
    for r in job.run_all(args.workers):  # what the dead left behind, if the others had ended
        pass
    job.check_exactly_once()
    check(kills > 0, "kill: no worker was killed mid-run (the work ran out first)")
    print(f"kill (ledger: {ledger}): {kills} SIGKILLs over {args.workers} workers x {args.kill_items} items: "
          "0 lost, 0 duplicated")


def terminate(args, rng):
    job = Job(args.binary, "terminated", args.kill_items, 50, 0)
    procs = [job.start(w) for w in range(1, args.workers + 1)]
    terminated = 0
    while any(p.poll() is None for p in procs) and terminated < 20:
        time.sleep(rng.uniform(0.05, 0.2))
        n = psql("SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity WHERE "
                 "datname = 'terminated' AND application_name = 'claim_worker' AND state <> 'idle' "
                 "ORDER BY random() LIMIT 1) t")
        terminated += int(n)
    reports = [job.finish(p, w) for w, p in enumerate(procs, start=1)]
    check(terminated > 0, "terminate: no backend was terminated (the workers finished first)")
    job.check_exactly_once()
    done = sum(r["done"] for r in reports)
    check(done == args.kill_items, f"terminate: the workers report {done} done, expected {args.kill_items}")
    print(f"terminate: {terminated} backends terminated mid-run; every item done once")


def restart(args, rng):
    job = Job(args.binary, "restarted", args.kill_items, 50, 0)
    procs = [job.start(w) for w in range(1, args.workers + 1)]
    # Restart once some chunks have committed (a bounded wait: the workers may finish first).
    target = rng.randrange(args.kill_items // 10, args.kill_items // 3)
    deadline = time.monotonic() + 60
    done = 0
    while done < target and time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.02)
        done = job.done()
    running = sum(1 for p in procs if p.poll() is None)
    subprocess.run([os.environ["STURDY_PG_CTL"], "restart", "-m", "fast", "-w", "-t", "60"], check=True,
                   stdout=subprocess.DEVNULL)
    reports = [job.finish(p, w) for w, p in enumerate(procs, start=1)]
    check(running > 0 and done < args.kill_items,
          f"restart: the workers had finished ({done} done) before the server restarted")
    job.check_exactly_once()
    total = sum(r["done"] for r in reports)
    check(total == args.kill_items, f"restart: the workers report {total} done, expected {args.kill_items}")
    print(f"restart: the server restarted with {done} of {args.kill_items} items done and {running} workers "
          f"running; every item done once")


def main():
    require_server()
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--items", type=int, default=20000)
    p.add_argument("--kill-items", type=int, default=10000)
    p.add_argument("--kills", type=int, default=int(os.environ.get("STURDY_WORKERS_KILLS", "12")))
    p.add_argument("--seed", type=int, default=int(os.environ.get("STURDY_WORKERS_SEED", random.randrange(1 << 30))))
    p.add_argument("--only", choices=["split", "kill", "terminate", "restart", "poison"])
    args = p.parse_args()
    print(f"seed {args.seed}", flush=True)
    rng = random.Random(args.seed)
    if args.only in (None, "split"):
        split(args)
    if args.only in (None, "poison"):
        poison_runs(args)
    if args.only in (None, "kill"):
        for ledger in ("table", "unique-key"):
            kill(args, rng, ledger)
    if args.only in (None, "terminate"):
        terminate(args, rng)
    if args.only in (None, "restart"):
        restart(args, rng)


if __name__ == "__main__":
    main()
