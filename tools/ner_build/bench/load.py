"""HTTP load with wrk (Debian's `wrk`, a maintained load generator): the API's throughput and
latency percentiles at a number of connections, and every error counted.

`run(url, body, connections, seconds)` POSTs the JSON body for that long and returns a
`LoadResult`. wrk reports latency percentiles with --latency; a Lua script sets the method,
body and content type, and `done()` prints the counts wrk keeps (status >= 400, socket errors)
as one JSON line, so nothing is scraped from its human-readable summary but the percentiles.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ner_build import process
from ner_build.errors import CheckFailed

INSTALL_HINT = "Install wrk (Debian: `apt-get install wrk`, or `tools/provision-debian load`)."
SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{authorization}wrk.body = {body}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "seconds": %f, "status_errors": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d, "p50_ms": %f, "p99_ms": %f}}\\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""
RESULT_LINE = re.compile(r'^\{"requests": .*\}$', re.MULTILINE)


@dataclass(frozen=True)
class LoadResult:
    connections: int
    requests: int
    seconds: float
    errors: int  # HTTP status >= 400 plus socket errors (connect, read, write, timeout)
    p50_ms: float
    p99_ms: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def lua_string(text: str) -> str:
    """text as a Lua string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse(output: str, connections: int) -> LoadResult:
    """The result line the Lua done() printed."""
    found = RESULT_LINE.search(output)
    if not found:
        raise CheckFailed(f"wrk printed no result line:\n{output[-2000:]}")
    values = json.loads(found.group(0))
    errors = sum(values[key] for key in ("status_errors", "connect", "read", "write", "timeout"))
    return LoadResult(
        connections,
        int(values["requests"]),
        float(values["seconds"]),
        int(errors),
        float(values["p50_ms"]),
        float(values["p99_ms"]),
    )


def run(
    url: str, body: str, connections: int, seconds: int, token: str = "", timeout_s: int = 30
) -> LoadResult:
    """POST body to url from `connections` connections for `seconds` seconds (with the bearer
    token when one is given)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise CheckFailed(f"wrk is not installed. {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="ner-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        bearer = f'wrk.headers["Authorization"] = {lua_string("Bearer " + token)}\n'
        script.write_text(
            SCRIPT.format(body=lua_string(body), authorization=bearer if token else "")
        )
        threads = min(connections, 2)
        output = process.output(
            [wrk, f"--threads={threads}", f"--connections={connections}",
             f"--duration={seconds}s", f"--timeout={timeout_s}s", "--latency",
             f"--script={script}", url],
            hint=INSTALL_HINT,
        )  # fmt: skip
    return parse(output, connections)
