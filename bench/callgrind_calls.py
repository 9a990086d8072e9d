#!/usr/bin/env python3
"""Calls into a function in a callgrind output file, and their inclusive instructions.

    bench/callgrind_calls.py FILE FUNCTION [--exact]

Prints one line, "CALLS INCLUSIVE TOTAL": how many calls the file records into the
functions whose name contains FUNCTION (or is FUNCTION, with --exact), the instructions
spent inside those calls, and the file's total of collected instructions. Used by
bench/instruction-guard.sh and bench/presentation/instructions.sh.
"""
import re
import sys


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--exact"]
    exact = "--exact" in sys.argv[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    path, wanted = args
    names, calls, inclusive, total = {}, 0, 0, 0
    callee, pending = None, None
    for line in open(path, errors="replace"):
        if line.startswith(("summary:", "totals:")):
            total = max(total, int(line.split()[1]))
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            kind, ident, name = m.groups()
            if name:
                names[ident] = name
            callee = names.get(ident, "") if kind == "cfn" else None
            continue
        m = re.match(r"^calls=(\d+)", line)
        if m:
            pending = int(m.group(1))
            continue
        if pending is not None:
            fields = line.split()
            if callee and (callee == wanted if exact else wanted in callee) and len(fields) > 1:
                calls += pending
                inclusive += int(fields[1])
            pending = None
    print(calls, inclusive, total)


if __name__ == "__main__":
    main()
