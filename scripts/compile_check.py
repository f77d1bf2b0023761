#!/usr/bin/env python3
"""Compile-time checks run as Meson tests (see tests/headers and tests/compile_fail).

Both compile single files with exactly the flags Meson uses for sturdy's own code: the command
line of a probe translation unit is taken from the build directory's compile_commands.json, so
include paths, -std, warnings, -Werror, defines and the compiler itself (GCC, clang, with or
without sanitizers) are the build's own.

  compile_check.py headers  BUILD_ROOT PROBE_SRC INCLUDE_DIR [--separate] [--skip=HEADER]...
      every include/sturdy/**/*.hpp, found when the test runs, compiles on its own
      (included twice, so a missing #pragma once shows too) and defines no function or
      variable that is not inline (a strong symbol in its object file, which two translation
      units of one program would define twice). The source headers (src.hpp, *_src.hpp) are
      left out: they are for separate compilation only.
      With --separate, the same with -DSTURDY_SEPARATE_COMPILATION, where the headers only
      declare what the source headers define; the source headers and every impl/*.ipp must
      then compile on their own too (they define the functions, so they are not checked for
      strong symbols). --skip=sturdy/sink/spdlog.hpp leaves a header out (one whose optional
      dependency the build did not find); a skipped header that does not exist is an error.
  compile_check.py fail     BUILD_ROOT PROBE_SRC CASE.cpp
      CASE.cpp must be rejected, and the compiler's output must contain the text of each
      `// expect: ...` line in it (a static_assert message), one of them in the first error,
      so that the user reads it first; with -DSTURDY_COMPILE_FAIL_CONTROL
      the same file must compile, which shows the failure comes from the misuse alone
"""
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import tempfile


def probe_command(build_root, probe_src):
    """The probe's compile command, minus its output, dependency-file and source arguments."""
    db_path = os.path.join(build_root, "compile_commands.json")
    with open(db_path, encoding="utf-8") as f:
        entries = json.load(f)
    want = os.path.realpath(probe_src)
    for e in entries:
        if os.path.realpath(os.path.join(e["directory"], e["file"])) == want:
            args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
            out = []
            skip = 0
            for a in args:
                if skip:
                    skip -= 1
                    continue
                if a in ("-o", "-MQ", "-MF", "-MT", "-c"):
                    skip = 1
                    continue
                if a in ("-MD", "-MMD", "-fdiagnostics-color=always"):
                    continue
                out.append(a)
            return e["directory"], out + ["-fdiagnostics-color=never"]
    sys.exit(f"compile_check: {probe_src} is not in {db_path}")


def compile_source(directory, cmd, source_text, extra=()):
    """Checks the syntax of source_text: (return code, compiler output)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "check.cpp")
        with open(src, "w", encoding="utf-8") as f:
            f.write(source_text)
        p = subprocess.run(cmd + list(extra) + ["-fsyntax-only", "-x", "c++", src], cwd=directory,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        return p.returncode, p.stdout


# nm's letters for symbols defined with external, non-weak linkage: code, data, bss, read-only
# data, small data. Inline functions, templates and inline variables are weak (W, V) or unique (u).
STRONG_SYMBOL_TYPES = set("TDBRGS")


def strong_symbols(directory, cmd, source_text, extra=()):
    """Compiles source_text to an object file: (return code, compiler output, strong symbols)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "check.cpp")
        obj = os.path.join(tmp, "check.o")
        with open(src, "w", encoding="utf-8") as f:
            f.write(source_text)
        p = subprocess.run(cmd + list(extra) + ["-c", "-o", obj, "-x", "c++", src], cwd=directory,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if p.returncode != 0:
            return p.returncode, p.stdout, []
        nm = subprocess.run(["nm", "-P", "--defined-only", "--extern-only", obj],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if nm.returncode != 0:
            return nm.returncode, nm.stdout, []
        names = [line.split()[0] for line in nm.stdout.splitlines()
                 if len(line.split()) >= 2 and line.split()[1] in STRONG_SYMBOL_TYPES]
        if names:
            demangled = subprocess.run(["c++filt"], input="\n".join(names), stdout=subprocess.PIPE, text=True,
                                       check=False)
            if demangled.returncode == 0:
                names = demangled.stdout.splitlines()
        return 0, p.stdout, names


def is_source_header(path):
    name = os.path.basename(path)
    return name == "src.hpp" or name.endswith("_src.hpp")


def check_headers(build_root, probe_src, include_dir, separate, skip=()):
    directory, cmd = probe_command(build_root, probe_src)
    extra = ["-DSTURDY_SEPARATE_COMPILATION"] if separate else []
    headers = []
    for root, _, files in os.walk(os.path.join(include_dir, "sturdy")):
        for name in files:
            path = os.path.relpath(os.path.join(root, name), include_dir)
            if name.endswith(".hpp") and (separate or not is_source_header(path)):
                headers.append(path)
            elif name.endswith(".ipp") and separate:
                headers.append(path)
    for h in skip:
        if h not in headers:
            sys.exit(f"compile_check: --skip={h}: no such header under {include_dir}")
    headers = sorted(h for h in headers if h not in skip)
    if not headers:
        sys.exit(f"compile_check: no headers under {include_dir}/sturdy")

    def one(h):
        text = f"#include <{h}>\n#include <{h}>\n"
        if h.endswith(".ipp") or is_source_header(h):
            rc, out = compile_source(directory, cmd, text, extra)
            return h, rc, out, []
        return (h, *strong_symbols(directory, cmd, text, extra))

    jobs = int(os.environ.get("STURDY_CHECK_JOBS", "0")) or os.cpu_count() or 2
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for h, rc, out, strong in pool.map(one, headers):
            if rc != 0:
                failed += 1
                print(f"FAIL  {h} does not compile on its own:\n{out}")
            elif strong:
                failed += 1
                print(f"FAIL  {h} defines what is not inline, so two files including it would define it twice:")
                for name in strong:
                    print(f"        {name}")
            else:
                print(f"ok    {h}")
    mode = "separate compilation (-DSTURDY_SEPARATE_COMPILATION)" if separate else "header-only"
    print(f"{len(headers) - failed} of {len(headers)} headers compile on their own, {mode}" +
          (f"; left out (optional dependency not found): {', '.join(skip)}" if skip else ""))
    print("command: " + shlex.join(cmd + extra))
    return 1 if failed else 0


def check_fail(build_root, probe_src, case):
    directory, cmd = probe_command(build_root, probe_src)
    with open(case, encoding="utf-8") as f:
        text = f.read()
    expected = [line.split("// expect:", 1)[1].strip() for line in text.splitlines() if "// expect:" in line]
    if not expected:
        sys.exit(f"compile_check: {case} has no '// expect: <message>' line")
    text = f'#line 1 "{os.path.abspath(case)}"\n' + text
    rc, out = compile_source(directory, cmd, text, ["-DSTURDY_COMPILE_FAIL_CONTROL"])
    if rc != 0:
        print(f"FAIL  the control variant (-DSTURDY_COMPILE_FAIL_CONTROL) does not compile:\n{out}")
        return 1
    rc, out = compile_source(directory, cmd, text)
    if rc == 0:
        print("FAIL  the misuse compiled; it must be rejected at compile time")
        return 1
    missing = [e for e in expected if e not in out]
    first_error = next((line for line in out.splitlines() if "error:" in line), "")
    if missing:
        print("FAIL  rejected, but not for the intended reason; missing from the compiler's output:")
        for e in missing:
            print(f"        {e}")
        print(out)
        return 1
    if not any(e in first_error for e in expected):
        # The message is there, but buried: the user reads the first error first.
        print("FAIL  the intended message is not the first error; the first error is:")
        print(f"        {first_error}")
        print(out)
        return 1
    print(f"ok    rejected with: {', '.join(expected)}")
    print(f"      first error: {first_error.strip()}")
    return 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "headers":
        options = argv[5:]
        skip = [o[len("--skip="):] for o in options if o.startswith("--skip=")]
        rest = [o for o in options if not o.startswith("--skip=")]
        if rest in ([], ["--separate"]):
            return check_headers(argv[2], argv[3], argv[4], rest == ["--separate"], skip)
    if len(argv) == 5 and argv[1] == "fail":
        return check_fail(argv[2], argv[3], argv[4])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
