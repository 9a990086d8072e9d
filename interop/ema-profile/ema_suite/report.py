"""PASS/FAIL lines and their counts.

Every check prints one line: `PASS <name>` or `FAIL <name>: <why>`. Names begin with the
requirement ID of profiles/enterprise-managed-authorization.md they test (`EMA-AS-13.unknown-resource`),
or with `E2E`, `S<section>` or `setup` for checks of a section or of the suite's own set-up.
"""

import sys

PASSED = 0
FAILED = 0
FAILURES = []


def check(name, ok, why=""):
    """Print one PASS/FAIL line; return ok."""
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        line = f"FAIL {name}: {why}" if why else f"FAIL {name}"
        FAILURES.append(line)
        print(line, flush=True)
    return bool(ok)


def summary():
    return f"interop: {PASSED} passed, {FAILED} failed"


def log(*args):
    print(*args, file=sys.stderr, flush=True)
