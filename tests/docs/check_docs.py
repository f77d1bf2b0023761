#!/usr/bin/env python3
"""The docs are a contract: every command and every C++ block in README.md and docs/*.md is checked.

    check_docs.py commands SOURCE_ROOT BUILD_ROOT   # every shell command shown works as written
    check_docs.py blocks SOURCE_ROOT                # every ```cpp block is compiled or is an excerpt
    check_docs.py extract DOC.md NAME OUT           # writes the block marked <!-- snippet: NAME -->

Commands are the lines of ```sh blocks, the lines of indented blocks and the `inline code` that
start with a program (scripts/..., meson, python3, build/..., sqlite3, ...). Each one is either
run (the examples' sessions, in a temporary directory; the crash test with 1 kill), checked
without running (`meson test` selections with `meson test --list`, `meson compile` targets,
the options a script accepts), or named as covered by .ci/run (installing, consumer builds). A
command this script cannot place fails the check, so a new one in the docs gets a decision.

In a ```sh block, a line `#   TEXT` after a command is its expected output: each part of TEXT
between "..." must appear, in order, in what the command prints (stdout and stderr).

A ```cpp block is preceded by one of:
    <!-- snippet: NAME -->   compiled (and run) by a test in tests/docs/, which includes it
                             through `check_docs.py extract`
    <!-- excerpt: PATH -->   a part of the file PATH: with comments removed, each piece between
                             two /* elisions */ appears in PATH token for token, in order
"""

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

PROGRAMS = ("scripts/", "meson", "python3", "./build/", "build/", "sqlite3", "g++", "c++", "cmake", "git", "sudo",
            "export")
SNIPPET = re.compile(r"<!--\s*snippet:\s*(\S+)\s*-->")
EXCERPT = re.compile(r"<!--\s*excerpt:\s*(\S+)\s*-->")

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")
    print(f"FAIL  {where}: {message}", flush=True)


# --- reading the Markdown ------------------------------------------------------------------


def doc_files(source):
    return [source / "README.md"] + sorted((source / "docs").glob("*.md"))


def fenced_blocks(path):
    """Yields (language, first line number, lines, the line before the fence) for each fenced block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = lines[start - 1] if start > 0 else ""
        yield m.group(1), start + 2, body, before
        i += 1


def starts_with_program(text):
    words = text.split()
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words = words[1:]
    return bool(words) and any(words[0] == p or (p.endswith("/") and words[0].startswith(p)) for p in PROGRAMS)


def commands_in(path):
    """Yields (where, command line, expected output parts) for every command the page shows."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fenced = set()
    for lang, first, body, _ in fenced_blocks(path):
        fenced.update(range(first - 2, first + len(body)))
        if lang not in ("sh", "bash", "shell"):
            continue
        pending = None  # (where, text) of a command still being joined (continuation, open quote)
        current = None  # the last command, to which `#   output` lines belong
        for n, line in enumerate(body, start=first):
            if pending is None and re.match(r"^#   \S", line):
                if current is not None:
                    current[2].append(line[4:])
                continue
            if pending is None and (not line.strip() or line.lstrip().startswith("#")):
                continue
            where, text = pending if pending else (f"{path.name}:{n}", "")
            text = (text + "\n" + line) if text else line
            if text.endswith("\\"):
                pending = (where, text[:-1])
                continue
            try:
                shlex.split(text, comments=True)
            except ValueError:  # an open quote: the command goes on on the next line
                pending = (where, text)
                continue
            pending = None
            current = (where, text, [])
            yield current
    # Indented blocks (after a blank line) and inline code spans, outside fenced blocks.
    prose = []
    for n, line in enumerate(lines):
        if n in fenced:
            prose.append("")
            continue
        if line.startswith("    ") and n > 0 and (not lines[n - 1].strip() or lines[n - 1].startswith("    ")):
            if starts_with_program(line.strip()):
                yield f"{path.name}:{n + 1}", line.strip(), []
            prose.append("")
            continue
        prose.append(line)
    text = "\n".join(prose)
    for m in re.finditer(r"`([^`]+)`", text):
        span = " ".join(m.group(1).split())
        if starts_with_program(span):
            yield f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}", span, []


# --- checking one command ------------------------------------------------------------------


class Context:
    def __init__(self, source, build, tmp):
        self.source = source
        self.build = build
        self.tmp = tmp
        self.targets = None

    def path(self, word):
        """Maps the docs' paths to this checkout: build/ to the build directory, /tmp/sturdy-* to a
        temporary directory."""
        for prefix in ("./build/", "build/"):
            if word.startswith(prefix):
                return str(self.build / word[len(prefix):])
        if word.startswith("/tmp/sturdy-"):
            return str(self.tmp / word[len("/tmp/"):])
        if word.startswith(("tests/", "scripts/")):
            return str(self.source / word)
        return word


def split_env(words):
    env = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        k, v = words[0].split("=", 1)
        env[k] = v
        words = words[1:]
    return env, words


def expect_output(where, out, expected):
    for line in expected:
        pos = 0
        for part in (p.strip() for p in line.split("...")):
            if not part:
                continue
            found = out.find(part, pos)
            if found < 0:
                fail(where, f"the output lacks '{part}' (documented: '{line}')\n--- output ---\n{out[-3000:]}")
                return
            pos = found + len(part)


def run(ctx, where, argv, env, expected, allowed=(0,)):
    proc = subprocess.run(argv, cwd=ctx.source, env={**os.environ, **env}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    if proc.returncode not in allowed:
        fail(where, f"exit status {proc.returncode} (expected {' or '.join(map(str, allowed))})\n{proc.stdout[-3000:]}")
        return
    expect_output(where, proc.stdout, expected)
    return proc.stdout


def check_meson(ctx, where, words, env):
    args = words[1:]
    if args[:1] == ["setup"]:
        if args[1:] == ["build"]:
            return "the build directory these checks run in"
        if args[1:2] == ["build-install"]:
            return "covered by .ci/run (install into a temporary prefix)"
        fail(where, f"no check for 'meson {' '.join(args)}'")
        return None
    if args[:1] == ["install"]:
        return "covered by .ci/run (install into a temporary prefix)"
    if args[:2] == ["compile", "-C"] and args[2:3] in (["build"], ["build-install"]):
        # build-install: the libraries of a separate-compilation install, declared in every build.
        for target in args[3:]:
            if target not in targets(ctx):
                fail(where, f"meson compile: no target '{target}'")
        return "targets exist" + (", built by .ci/run's install" if args[2] == "build-install" else "")
    if args[:3] == ["test", "-C", "build"]:
        # --list with the same selection: "No suitable tests defined" and exit 1 when it matches nothing.
        selection = [a for a in args[3:] if a not in ("--no-rebuild",)]
        proc = subprocess.run(["meson", "test", "-C", str(ctx.build), "--no-rebuild", "--list", *selection],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not proc.stdout.strip():
            fail(where, f"selects no test: {proc.stdout.strip()}")
            return None
        for k in env:
            readers = [*(ctx.source / "tests").rglob("*.py"), *(ctx.source / "tests").rglob("*.cpp")]
            if not any(k in open(f, encoding="utf-8").read() for f in readers):
                fail(where, f"no test reads {k}")
        return "selects " + ", ".join(line.split(" / ")[-1] for line in proc.stdout.strip().splitlines())
    fail(where, f"no check for 'meson {' '.join(args)}'")
    return None


def targets(ctx):
    if ctx.targets is None:
        out = subprocess.check_output(["meson", "introspect", "--targets", str(ctx.build)], text=True)
        ctx.targets = {t["name"] for t in json.loads(out)}
    return ctx.targets


# The command-line flags of Google Benchmark 1.7 (Debian 12's libbenchmark-dev) that the docs may show.
GOOGLE_BENCHMARK_FLAGS = {
    "--benchmark_filter", "--benchmark_repetitions", "--benchmark_enable_random_interleaving",
    "--benchmark_min_time", "--benchmark_min_warmup_time", "--benchmark_out", "--benchmark_out_format",
    "--benchmark_format", "--benchmark_display_aggregates_only", "--benchmark_report_aggregates_only",
    "--benchmark_list_tests", "--benchmark_time_unit", "--benchmark_counters_tabular", "--benchmark_color",
    "--benchmark_context", "--benchmark_perf_counters", "--v",
}


def check_script(ctx, where, words, env):
    script = ctx.source / words[0]
    if not script.is_file() or not os.access(script, os.X_OK):
        fail(where, f"{words[0]} is not an executable file")
        return None
    text = script.read_text(encoding="utf-8")
    if text.startswith("#!/usr/bin/env python3"):
        known = subprocess.run([str(script), "--help"], stdout=subprocess.PIPE, text=True).stdout
    else:
        known = text
    own = words[1:]
    if words[0] == "scripts/with-postgres":
        # It runs the command that follows it: that command's options are not the script's.
        first = next((i for i, w in enumerate(own) if not w.startswith("-")), len(own))
        own, wrapped = own[:first], own[first:]
        if wrapped and re.search(r"(^|/)benchmarks/bench_\w+$", wrapped[0]):
            for w in wrapped[1:]:
                option = w.split("=", 1)[0]
                if option.startswith("--") and option not in GOOGLE_BENCHMARK_FLAGS:
                    fail(where, f"{wrapped[0]} (Google Benchmark) has no option {option}")
        elif wrapped:
            fail(where, f"no check for '{' '.join(wrapped)}' under scripts/with-postgres: add one")
    for w in own:
        option = w.split("=", 1)[0]
        if option.startswith("--") and option not in known:
            fail(where, f"{words[0]} has no option {option}")
    for k in env:
        if k not in text:
            fail(where, f"{words[0]} does not read {k}")
    return "not run (it builds or installs): the script and its options exist"


def check_command(ctx, where, line, expected):
    done = []
    for part in re.split(r"\s&&\s", line):
        env, words = split_env(shlex.split(part, comments=True))
        words = words[:1] + [ctx.path(w) for w in words[1:]]
        if not words:
            continue
        program = words[0]
        if program == "meson":
            done.append(check_meson(ctx, where, words, env))
        elif program.startswith("scripts/"):
            done.append(check_script(ctx, where, words, env))
        elif program.startswith(("./build/examples/", "build/examples/")):
            exe = ctx.path(program)
            if not os.access(exe, os.X_OK):
                fail(where, f"{program} is not built ({exe})")
                continue
            allowed = (75,) if any("exit status 75" in e for e in expected) else (0, 75)
            run(ctx, where, [exe, *words[1:]], env, expected, allowed)
            done.append("ran it")
        elif program == "sqlite3" and len(words) == 3:
            # The sqlite3 shell when it is installed, else the same SQL through Python's module.
            if shutil.which("sqlite3"):
                run(ctx, where, words, env, expected)
            else:
                with sqlite3.connect(words[1]) as c:
                    c.executescript(words[2])
            done.append("ran it")
        elif program == "python3" and words[1:2] == [str(ctx.source / "tests/crash/crash_test.py")]:
            if "STURDY_CRASH_KILLS" in env:
                env["STURDY_CRASH_KILLS"] = "1"  # the long run, briefly
            run(ctx, where, words, env, expected)
            done.append("ran it with STURDY_CRASH_KILLS=1")
        elif program in ("g++", "c++", "cmake", "export"):
            done.append("covered by .ci/run (the consumers in tests/consumers/)")
        elif program == "git" and words[1:3] == ["submodule", "add"]:
            done.append("covered by .ci/run (the Meson subproject consumer)")
        elif program == "sudo" and words[1:3] == ["apt-get", "install"]:
            deps = (ctx.source / "scripts/install-deps").read_text(encoding="utf-8")
            for p in words[3:]:
                if not re.search(rf"(^|\s|\(){re.escape(p)}(\s|\)|$)", deps):
                    fail(where, f"package {p} is not in scripts/install-deps")
            done.append("the packages are those scripts/install-deps installs")
        else:
            fail(where, f"no check for '{part}': add one to tests/docs/check_docs.py")
    return "; ".join(d for d in done if d)


def commands(source, build):
    with tempfile.TemporaryDirectory(prefix="sturdy-docs-") as tmp:
        ctx = Context(source, build, Path(tmp))
        count = 0
        for doc in doc_files(source):
            for where, line, expected in list(commands_in(doc)):  # output lines follow their command
                count += 1
                before = len(failures)
                what = check_command(ctx, where, line, expected)
                if len(failures) == before:
                    print(f"ok    {where}: {' '.join(line.split())}  [{what}]", flush=True)
    print(f"{count} commands, {len(failures)} failed")
    if count == 0:
        fail("docs", "no command found: is the parser broken?")


# --- C++ blocks ----------------------------------------------------------------------------


def snippet(doc, name):
    for lang, _, body, before in fenced_blocks(Path(doc)):
        m = SNIPPET.search(before)
        if lang == "cpp" and m and m.group(1) == name:
            return "\n".join(body) + "\n"
    sys.exit(f"{doc}: no ```cpp block after <!-- snippet: {name} -->")


def tokens(code):
    code = re.sub(r"//[^\n]*", " ", code)
    return re.findall(r"[A-Za-z_]\w*|\d[\w.']*|\"(?:\\.|[^\"\\])*\"|::|->|&&|\|\||<=|>=|==|!=|\S", code)


def check_excerpt(where, body, path):
    if not path.is_file():
        fail(where, f"excerpt of {path}, which does not exist")
        return
    whole = tokens(re.sub(r"/\*.*?\*/", " ", path.read_text(encoding="utf-8"), flags=re.S))
    pos = 0
    for piece in re.split(r"/\*.*?\*/", "\n".join(body), flags=re.S):
        want = tokens(piece)
        if not want:
            continue
        at = next((i for i in range(pos, len(whole) - len(want) + 1) if whole[i:i + len(want)] == want), None)
        if at is None:
            fail(where, f"this part is not in {path.name} as written (after the previous part):\n{piece.strip()}")
            return
        pos = at + len(want)


def blocks(source):
    count = 0
    snippets = {}
    for doc in doc_files(source):
        for lang, first, body, before in fenced_blocks(doc):
            if lang != "cpp":
                continue
            count += 1
            where = f"{doc.name}:{first - 1}"
            if m := SNIPPET.search(before):
                if m.group(1) in snippets:
                    fail(where, f"snippet name {m.group(1)} also used at {snippets[m.group(1)]}")
                snippets[m.group(1)] = where
                uses = [p for p in (source / "tests/docs").glob("*.cpp")
                        if re.search(rf'#\s*include\s+"{re.escape(m.group(1))}\.inc"', p.read_text(encoding="utf-8"))]
                if not uses:
                    fail(where, f"snippet {m.group(1)}: no tests/docs/*.cpp includes \"{m.group(1)}.inc\"")
                else:
                    print(f"ok    {where}: snippet {m.group(1)}, compiled by {', '.join(p.name for p in uses)}")
            elif m := EXCERPT.search(before):
                before_count = len(failures)
                check_excerpt(where, body, source / m.group(1))
                if len(failures) == before_count:
                    print(f"ok    {where}: excerpt of {m.group(1)}")
            else:
                fail(where, "a ```cpp block needs <!-- snippet: NAME --> (compiled by tests/docs/) or "
                     "<!-- excerpt: PATH --> on the line before it")
    print(f"{count} C++ blocks, {len(failures)} failed")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "commands":
        commands(Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve())
    elif len(sys.argv) == 3 and sys.argv[1] == "blocks":
        blocks(Path(sys.argv[2]).resolve())
    elif len(sys.argv) == 5 and sys.argv[1] == "extract":
        text = snippet(sys.argv[2], sys.argv[3])
        Path(sys.argv[4]).write_text(f"// Extracted from {Path(sys.argv[2]).name} by check_docs.py: edit it there.\n"
                                     + text, encoding="utf-8")
        return
    else:
        sys.exit(__doc__)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
