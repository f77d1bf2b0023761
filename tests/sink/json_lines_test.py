#!/usr/bin/env python3
"""json_lines_sink's output, read as a log shipper would: every line of json_lines_emit's
stdout must be one JSON object (parsed with Python's json module), with the fields its event
promises (sturdy/sink/json_lines.hpp), and values that agree with the run's report (its JSON,
on stderr).

    json_lines_test.py PATH/TO/json_lines_emit
"""
import datetime
import json
import re
import subprocess
import sys

BASE_MS = 1764558514123  # the emitter's wall clock at the manual clock's 0
REASON = 'partner "p" has no address\n\t\x01 caf\u00e9 \\'
COMMON = ["ts", "level", "event", "job"]
FIELDS = {
    "progress": COMMON + ["seen", "total", "done", "skipped", "failed", "retried", "rate", "eta_ms", "elapsed_ms"],
    "failure": COMMON + ["key", "reason", "attempts", "transient"],
    "folded": COMMON + ["reason", "more"],
    "stopped": COMMON + ["reason"],
}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

errors = []


def check(cond, message):
    if not cond:
        errors.append(message)
        print("FAIL  " + message)


def ts_of(ms):
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def main(emitter):
    p = subprocess.run([emitter], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    report = json.loads(p.stderr.decode("utf-8"))
    raw = p.stdout.decode("utf-8")
    check(raw.endswith("\n"), "the output ends with a newline")
    lines = raw.split("\n")[:-1]
    events = []
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            check(False, f"line {n} is not JSON ({e}): {line!r}")
            continue
        check(isinstance(obj, dict), f"line {n} is an object")
        events.append(obj)
    check(len(events) == len(lines) and len(events) > 0, "every line parsed")

    for n, e in enumerate(events, 1):
        kind = e.get("event")
        check(kind in ("progress", "failure", "folded", "stopped", "finished"), f"line {n}: event {kind!r}")
        check(e.get("job") == 'invoicing "eu"', f"line {n}: job {e.get('job')!r}")
        check(TS.match(e.get("ts", "")) is not None, f"line {n}: ts {e.get('ts')!r}")
        check(e.get("level") in ("info", "warning", "error"), f"line {n}: level {e.get('level')!r}")
        if kind in FIELDS:
            check(list(e) == FIELDS[kind], f"line {n}: {kind} has fields {list(e)}, expected {FIELDS[kind]}")
            check(e["level"] == ("info" if kind == "progress" else "warning"), f"line {n}: {kind} at {e['level']}")

    progress = [e for e in events if e["event"] == "progress"]
    check(len(progress) >= 3, f"{len(progress)} progress lines")
    last_seen = 0
    for e in progress:
        check(e["total"] == 200, f"progress total {e['total']}")
        check(e["seen"] > last_seen, f"progress seen {e['seen']} after {last_seen}")
        last_seen = e["seen"]
        check(e["done"] + e["skipped"] + e["failed"] <= e["seen"], f"progress counts {e}")
        # 10ms per item and attempt, on the manual clock: the wall clock moved as much.
        check(e["ts"] == ts_of(BASE_MS + e["elapsed_ms"]), f"progress ts {e['ts']} at elapsed {e['elapsed_ms']}ms")
        check(isinstance(e["rate"], float) and abs(e["rate"] - e["seen"] * 1000.0 / e["elapsed_ms"]) < 0.06,
              f"progress rate {e['rate']} for {e['seen']} items in {e['elapsed_ms']}ms")
        check(isinstance(e["eta_ms"], int) and e["eta_ms"] >= 0, f"progress eta_ms {e['eta_ms']}")
        check(all(isinstance(e[k], int) for k in ("seen", "done", "skipped", "failed", "retried", "elapsed_ms")),
              f"progress counts are integers: {e}")

    failures = [e for e in events if e["event"] == "failure"]
    by_reason = {}
    for e in failures:
        by_reason.setdefault(e["reason"], []).append(e)
    check(set(by_reason) == {REASON, "busy"}, f"failure reasons {set(by_reason)}")
    check([e["key"] for e in by_reason.get(REASON, [])] == ["3", "13", "23"], "the first three of one reason, in order")
    check([(e["key"], e["attempts"], e["transient"]) for e in by_reason.get("busy", [])] ==
          [("7", 2, True), ("18", 2, True)], f"the transient failures: {by_reason.get('busy')}")

    stopped = [e for e in events if e["event"] == "stopped"]
    check(len(stopped) == 1 and stopped[0]["reason"] == report["stopped_early"],
          f"one stopped line, with the report's reason: {stopped}")
    check(report["remaining"] > 0, "the time budget stopped the run before the end")

    folded = [e for e in events if e["event"] == "folded"]
    reasons = {g["reason"]: g for g in report["failure_reasons"]}
    check([(e["reason"], e["more"]) for e in folded] == [(REASON, reasons[REASON]["count"] - 3)],
          f"one folded line for the reason seen more than three times: {folded}")

    finished = events[-1]
    check(finished["event"] == "finished" and sum(e["event"] == "finished" for e in events) == 1,
          "the last line, and only it, is the summary")
    check(finished["level"] == "warning", "a summary with failures is a warning")
    check({k: v for k, v in finished.items() if k not in COMMON} == report,
          f"the summary's fields are the report's:\n{finished}\n{report}")
    check(ts_of(BASE_MS + report["elapsed_ms"]) == finished["ts"], f"summary ts {finished['ts']}")

    print(f"{len(events)} lines, {len(errors)} failed checks")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
