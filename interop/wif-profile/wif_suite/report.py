"""Results: check() prints `PASS <name>` / `FAIL <name>: <why>` and counts; client.py prints
`interop: N passed, M failed` from PASSED and FAILED. Also the error answers recorded for
WIF-AS-24 (checks_claims.check_descriptions)."""


# --------------------------------------------------------------------------- results

PASSED = 0
FAILED = 0
FAILURES = []


def check(name, ok, why=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        FAILURES.append(name)
        print(f"FAIL {name}: {why}", flush=True)
    return ok


DESCRIPTIONS = []          # (check name, status, error, description) of every error answer
STEP_678 = []              # (check name, description) of answers refused at steps 6 to 8
FORBIDDEN_IN_DESC = set()  # claim values, kids, URLs that must never appear in a description
