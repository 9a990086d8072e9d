#!/usr/bin/env python3
"""Independent black-box client and test suite for profiles/enterprise-managed-authorization.md.

Written from the profile document (with README.md, docs/*.md and `mcp-auth ... --help`); the
project's Rust sources were not read. Section numbers (§) refer to the profile document.

usage: client.py <mcp-auth binary> <workdir>

It starts, on loopback, two `mcp-auth as` processes, the enterprise IdP (Appendix A.1, with
`[[id_jag_targets]]` and users in groups) and the MCP authorization server (Appendix A.2, with
`[[id_jag_issuers]]`: the IdP by discovery, plus trust entries whose keys the suite holds), and
`mcp-auth demo-server` behind `mcp-auth gateway`. Then it signs users in at the IdP through its
HTML pages (code + PKCE + openid + nonce), validates the ID tokens, exchanges them (§7.2),
redeems the ID-JAGs (§7.6), calls a tool with the access token, and checks each black-box
requirement (EMA-IDP-n, EMA-AS-n) with positive and negative cases.

Prints `PASS <name>` / `FAIL <name>: <why>` and `interop: N passed, M failed`; exits 1 when a
check failed, 2 when set-up failed. INTEROP_VERBOSE=1 prints every token-endpoint answer.
The code is in the package ema_suite/ beside this file.
"""

import os
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ema_suite import checks_as_claims as AC  # noqa: E402
from ema_suite import checks_as_request as AR  # noqa: E402
from ema_suite import checks_idp as IDP  # noqa: E402
from ema_suite import checks_logs as LOGS  # noqa: E402
from ema_suite import checks_idp_more as IDPM  # noqa: E402
from ema_suite import checks_idp_policy as IDPP  # noqa: E402
from ema_suite import checks_sdk as SDK  # noqa: E402
from ema_suite import checks_startup as START  # noqa: E402
from ema_suite import checks_e2e as E2E  # noqa: E402
from ema_suite import checks_edges as EDGE  # noqa: E402
from ema_suite import report  # noqa: E402
from ema_suite.common import W  # noqa: E402
from ema_suite.report import check, log  # noqa: E402
from ema_suite.setup import setup, stop_procs, tail  # noqa: E402


def run(step):
    try:
        step()
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        check(f"crash.{getattr(step, '__name__', 'step')}", False, repr(e))


def main():
    if len(sys.argv) != 3:
        print("usage: client.py <mcp-auth binary> <workdir>", file=sys.stderr)
        return 2
    binary, workdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(workdir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t0 = time.time()
    try:
        try:
            setup(binary, workdir)
        except SystemExit as e:
            log(f"client.py: setup failed: {e}")
            return 2
        # the MCP AS with the suite's own ID-JAGs (its jwks_file and jwks_uri trust entries)
        as_steps = [AR.check_as_metadata, AR.check_as_positive, AR.check_form, AR.check_kind, AR.check_client,
                    AR.check_binding, AR.check_header, AR.check_entries, AR.key_source_begin, AC.check_aud,
                    AC.check_times, AC.check_claims, AC.check_continuity, AC.check_cnf, AC.check_resource,
                    AC.check_scope, AC.check_single_use, AR.check_concurrency, AC.check_issue, AC.check_order,
                    IDPM.check_empty_parameters_as, E2E.e2e_minted, *EDGE.AS_STEPS]
        for step in as_steps:
            run(step)
        # the IdP, and the whole flow through it (the key rotation first: before the MCP AS reads
        # the IdP's keys; the user removal late: after the other checks used the user)
        if W.idp_up:
            idp_steps = [IDP.sign_ins, *IDPM.STEPS, *IDP.STEPS_A[1:], *IDPP.STEPS_B, *EDGE.IDP_STEPS,
                         *IDPM.LATE_STEPS, *E2E.STEPS, *SDK.STEPS, *LOGS.IDP_STEPS,
                         *START.IDP_STEPS]
            for step in idp_steps:
                run(step)
        else:
            IDP.report_unavailable()
        for step in START.STEPS:
            run(step)
        run(AR.key_source_finish)
        for step in LOGS.STEPS:
            run(step)
        for step in EDGE.LAST_STEPS:
            run(step)
        run(AR.check_header_never_fetched)
        run(AC.check_no_values_in_descriptions)
        for name, p in W.procs.items():
            if p.poll() is not None:
                check(f"setup.{name}-still-running", False, f"exited with {p.returncode}: {tail(name, 5)}")
    finally:
        stop_procs()
    log(f"client.py: {time.time() - t0:.0f} s")
    print(report.summary(), flush=True)
    return 1 if report.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
