"""The progress lines `mcp-auth bench gateway` writes to stderr, for the scripts beside
this one: each run's line is printed as it starts (`<label>  0/<n> requests`), rewritten
every half second (`\\r`), and cleared with spaces as the run ends."""


def lines(stream):
    """Yields each line of `stream` (split at `\\r` and `\\n`), stripped, as it arrives."""
    buf = b""
    while True:
        ch = stream.read(1)
        if not ch:
            return
        if ch in (b"\r", b"\n"):
            yield buf.decode(errors="replace").strip()
            buf = b""
        else:
            buf += ch
