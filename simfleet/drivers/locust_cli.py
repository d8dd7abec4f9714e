"""`simfleet locust SCENARIO [locust args...]`: Locust drives the fleet.

Runs Locust in a subprocess with simfleet's locustfile (`simfleet.drivers.locust_bridge`):
Locust users are virtual chargers, "Ramp up" is chargers connecting per second, "Host" is the
CSMS URL. Every argument after SCENARIO goes to Locust unchanged (--headless, -u, -r, -t, --csv,
--master, --worker, ...). Defaults added here: --web-host 127.0.0.1; and when neither --host nor
the scenario's target.url names a CSMS, an embedded CSMS is started and passed as --host.

Plain Locust works too::

    locust -f $(python -c "import simfleet.drivers.locust_bridge as m; print(m.__file__)") \\
        --scenario FILE --host ws://csms:9000/ocpp
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from simfleet.drivers.run import EmbeddedCsmsProcess
from simfleet.scenario import load

EXIT_USAGE = 2
#: The embedded CSMS tells chargers this heartbeat interval, as `simfleet run` does.
CSMS_HEARTBEAT_S = 60
BRIDGE = Path(__file__).resolve().with_name("locust_bridge.py")


def _has_option(args: Sequence[str], *names: str) -> bool:
    return any(arg in names or arg.split("=", 1)[0] in names for arg in args)


def locust_command(scenario: str, args: Sequence[str], host: str | None) -> list[str]:
    """The Locust command line: our locustfile, the scenario, the defaults, then the user's."""
    command = [sys.executable, "-m", "locust", "-f", str(BRIDGE), "--scenario", scenario]
    if not _has_option(args, "--web-host"):
        command += ["--web-host", "127.0.0.1"]
    if host is not None:
        command += ["--host", host]
    return [*command, *args]


def run_locust(scenario: str, args: Sequence[str]) -> int:
    """Run Locust to its end; returns its exit code."""
    if importlib.util.find_spec("locust") is None:
        print("Locust is not installed: pip install locust", file=sys.stderr)
        return EXIT_USAGE
    loaded = load(scenario)
    # A worker takes its host from the master; only the process that decides needs a CSMS.
    needs_csms = not (_has_option(args, "--host", "-H", "--worker") or loaded.target)
    csms = EmbeddedCsmsProcess(CSMS_HEARTBEAT_S, loaded) if needs_csms else None
    try:
        if csms is not None:
            print(f"simfleet: embedded CSMS at {csms.target}", file=sys.stderr)
        host = csms.target if csms is not None else None
        return _wait(subprocess.Popen(locust_command(str(Path(scenario).resolve()), args, host)))
    finally:
        if csms is not None:
            csms.stop()


def _wait(process: subprocess.Popen[bytes]) -> int:
    """Locust handles Ctrl-C itself (it shares our process group); we wait for its exit."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    forward = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, forward)
