#!/usr/bin/env python3
"""sturdy's metrics as Prometheus sees them, with Prometheus' own tools (Debian's `prometheus`
and `prometheus-node-exporter` packages; scripts/install-deps installs them).

    monitoring_test.py textfile TEXTFILE_JOB   # the textfiles: promtool, then node_exporter
    monitoring_test.py promtool ARGS...        # promtool ARGS (check rules, test rules)

textfile: runs tests/monitoring/textfile_job with 1 to 6 runs, each writing its own file in one
directory (six states of one job: work left over 1, 2, 3 runs, a run with none, the first
success, work left after a success); checks each file, and the file written mid-run, with
`promtool check metrics`; then starts node_exporter as a child process on a free 127.0.0.1 port
with its textfile collector reading that directory alone, GETs /metrics, parses it, and checks
that every sturdy series served has the value the job's reports (their JSON) say, and the type
the file gave it.

A missing promtool or node_exporter fails the test, saying what to install: never a skip.
STURDY_PROMTOOL and STURDY_NODE_EXPORTER name other binaries (a missing one: the check that the
test fails, tests/monitoring/meson.build).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

JOB = 'nightly "eu" \\ run'  # a quote and a backslash: escaped in the file, unescaped by the parser
RUNS = 6
OUTCOMES = ("done", "skipped", "failed", "quarantined")
TOLERANCE = 0.002  # the file's timestamps and the job's "before"/"after" are rounded to 1 ms

errors = []


def check(cond, message):
    if not cond:
        errors.append(message)
        print("FAIL  " + message, flush=True)
    return cond


def tool(env, names, package):
    override = os.environ.get(env)
    path = override if override is not None else next(filter(None, map(shutil.which, names)), None)
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"FAIL  {names[0]} not found{f' ({env}={override})' if override is not None else ''}: "
                 f"install Debian's {package} (scripts/install-deps does); this test never skips")
    return path


def promtool():
    return tool("STURDY_PROMTOOL", ["promtool"], "prometheus")


def node_exporter():
    return tool("STURDY_NODE_EXPORTER", ["prometheus-node-exporter", "node_exporter"], "prometheus-node-exporter")


# --- the text exposition format, as node_exporter serves it --------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def unescape(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse(text):
    """{(name, frozenset of (label, value)): value}, {name: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not check(m, f"a line node_exporter served does not parse: {line!r}"):
            continue
        labels, rest = {}, m.group(2) or ""
        while rest:
            lm = LABEL.match(rest)
            if not check(lm, f"bad labels in {line!r}"):
                break
            labels[lm.group(1)] = unescape(lm.group(2))
            rest = rest[lm.end():]
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return samples, types


# --- what the reports say the file holds ---------------------------------------------------


def expected(runs):
    """{(name, outcome or None): value} for the file after `runs` (the job's output), and the
    bounds {name: (low, high)} of its timestamps."""
    reports = [r["report"] for r in runs]
    last = reports[-1]
    want = {("sturdy_items_total", o): sum(r[o] for r in reports) for o in OUTCOMES}
    want[("sturdy_retries_total", None)] = sum(r["retried"] for r in reports)
    want[("sturdy_runs_total", None)] = len(reports)
    for o in OUTCOMES + ("remaining",):
        want[("sturdy_run_items", o)] = last[o]
    want[("sturdy_run_duration_seconds", None)] = last["elapsed_ms"] / 1000
    want[("sturdy_work_remains", None)] = 1 if last["run_again_soon"] else 0
    want[("sturdy_running", None)] = 0
    consecutive = 0
    for r in reports:
        consecutive = consecutive + 1 if r["run_again_soon"] else 0
    want[("sturdy_work_remains_consecutive_runs", None)] = consecutive
    window = (runs[-1]["before"] - TOLERANCE, runs[-1]["after"] + TOLERANCE)
    bounds = {"sturdy_run_start_timestamp_seconds": window, "sturdy_run_end_timestamp_seconds": window}
    successes = [run for run in runs if run["report"]["failed"] == 0 and not run["report"]["run_again_soon"]]
    if successes:
        bounds["sturdy_last_success_timestamp_seconds"] = (successes[-1]["before"] - TOLERANCE,
                                                           successes[-1]["after"] + TOLERANCE)
    else:
        want[("sturdy_last_success_timestamp_seconds", None)] = 0
    return want, bounds


# --- node_exporter -------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(binary, directory, log_path):
    """Starts node_exporter with only the textfile collector, GETs /metrics once it answers, and
    stops it. A port taken between free_port() and the bind: another port, up to 5 times."""
    for _ in range(5):
        port = free_port()
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}",
                                     f"--collector.textfile.directory={directory}",
                                     "--collector.disable-defaults", "--collector.textfile"],
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                        print(f"node_exporter (pid {proc.pid}) on 127.0.0.1:{port}: HTTP {resp.status}")
                        return resp.read().decode("utf-8")
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        log = Path(log_path).read_text(encoding="utf-8", errors="replace")
        if "address already in use" not in log:
            sys.exit(f"FAIL  node_exporter did not serve /metrics (exit status {proc.returncode}):\n{log[-3000:]}")
    sys.exit("FAIL  node_exporter found no free port in 5 tries")


# --- the checks ----------------------------------------------------------------------------


def promtool_check_metrics(path):
    with open(path, "rb") as f:
        proc = subprocess.run([promtool(), "check", "metrics"], stdin=f, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    check(proc.returncode == 0 and not proc.stdout.strip(),
          f"promtool check metrics < {path.name}: exit status {proc.returncode}\n{proc.stdout}")
    print(f"ok    promtool check metrics < {path.name}")


def textfile(job_binary):
    exporter = node_exporter()
    promtool()
    with tempfile.TemporaryDirectory(prefix="sturdy-monitoring-") as tmp:
        tmp = Path(tmp)
        directory = tmp / "textfile"
        directory.mkdir()
        outputs = {}
        for n in range(1, RUNS + 1):
            path = directory / f"job{n}.prom"
            out = subprocess.run([job_binary, str(path), f"{JOB} {n}", str(n)], check=True, stdout=subprocess.PIPE,
                                 text=True).stdout
            outputs[n] = [json.loads(line) for line in out.splitlines()]
            check(len(outputs[n]) == n, f"job{n}: {len(outputs[n])} reports, not {n}")
            promtool_check_metrics(path)
            running = Path(str(path) + ".running")
            promtool_check_metrics(running)
            mid, _ = parse(running.read_text(encoding="utf-8"))
            check(mid.get(("sturdy_running", frozenset({("job_name", f"{JOB} {n}")}))) == 1,
                  f"{running.name} does not say sturdy_running 1")
        # The six states differ where the alerts look.
        last = {n: outputs[n][-1]["report"] for n in outputs}
        check([r["run_again_soon"] for r in last.values()] == [True, True, True, False, False, True],
              "the job's runs no longer leave work as this test expects: " + str(last))

        text = scrape(exporter, directory, tmp / "node_exporter.log")
        samples, types = parse(text)
        check(samples.get(("node_textfile_scrape_error", frozenset())) == 0,
              "node_textfile_scrape_error is not 0: node_exporter refused a file")
        for n in range(1, RUNS + 1):
            failed_before = len(errors)
            want, bounds = expected(outputs[n])
            job = f"{JOB} {n}"
            served = {(name, dict(labels).get("outcome")): value for (name, labels), value in samples.items()
                      if name.startswith("sturdy_") and dict(labels).get("job_name") == job}
            check(set(served) == set(want) | {(name, None) for name in bounds},
                  f"job{n}: the series served differ from those expected: {sorted(set(served) ^ set(want))}")
            for key, value in sorted(want.items(), key=str):
                check(key in served and abs(served[key] - value) < 1e-6,
                      f"job{n}: {key[0]}{{outcome={key[1]}}} is {served.get(key)}, the reports say {value}")
            for name, (low, high) in bounds.items():
                got = served.get((name, None))
                check(got is not None and low <= got <= high, f"job{n}: {name} is {got}, not in [{low}, {high}]")
            if len(errors) == failed_before:
                print(f"ok    job{n}: {len(served)} series served with the reports' values (last run: "
                      f"done {last[n]['done']}, failed {last[n]['failed']}, quarantined {last[n]['quarantined']}, "
                      f"work remains {int(last[n]['run_again_soon'])}, "
                      f"{int(want[('sturdy_work_remains_consecutive_runs', None)])} runs in a row)")
        for name in {name for name, _ in samples if name.startswith("sturdy_")}:
            check(types.get(name) == ("counter" if name.endswith("_total") else "gauge"),
                  f"{name} served as {types.get(name)}")


def main(argv):
    if len(argv) >= 2 and argv[0] == "textfile":
        textfile(argv[1])
    elif len(argv) >= 2 and argv[0] == "promtool":
        proc = subprocess.run([promtool(), *argv[1:]])
        check(proc.returncode == 0, f"promtool {' '.join(argv[1:])}: exit status {proc.returncode}")
    else:
        sys.exit(__doc__)
    print(f"{len(errors)} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
