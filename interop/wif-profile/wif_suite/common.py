"""What every module of the suite shares: constants, logging, the shared state `W` (filled by
as_setup.setup() and read by the checks) and the HTTP session."""

import base64
import os
import sys
import time

import requests


JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
VERBOSE = os.environ.get("INTEROP_VERBOSE") == "1"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- the world


class World:
    pass


W = World()
HTTP = requests.Session()
