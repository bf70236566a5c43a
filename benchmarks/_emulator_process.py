"""Child process: the REST v2 emulator of ``tests/emulator`` plus a control route for the benchmarks.

Run by :class:`_common.EmulatorProcess` as ``python _emulator_process.py '<knobs as JSON>'``. Prints one
JSON line (``base_url``, ``control_url``, ``pid``) and serves until its stdin closes. The control route
(POST JSON ``{"op": ...}`` to ``control_url``) lives here, not in the emulator: ``reset``, ``create``
(``n`` jobs, then the job clock moved by ``advance`` emulated seconds), ``script`` (durations of the next
jobs), ``speed`` (the job clock's), ``ends`` (seconds until jobs end), ``history`` (``n`` finished jobs of a
busy server), ``counters`` and ``set``. With the knob ``endpoint`` (a release profile) the child serves that
release's REST v2 and legacy gRPC on one port (``tests/emulator/grpc_server.MilvusEndpoint``).
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.emulator.server import ImportEmulator


def counters(emulator: ImportEmulator) -> dict[str, Any]:
    """Requests per route, connections, and this process's CPU seconds."""
    with emulator._lock:
        routes = {route.rsplit("/", 1)[-1]: count for route, count in emulator._counts.items()}
        return {
            "routes": routes,
            "requests": sum(routes.values()),
            "total_connections": emulator.total_connections,
            "open_connections": emulator.open_connections,
            "max_concurrent_connections": emulator.max_concurrent_connections,
            "max_concurrent_requests": emulator.max_concurrent_requests,
            "cpu": time.process_time(),
            "jobs": len(emulator._jobs),
        }


def handle(emulator: ImportEmulator, command: dict[str, Any]) -> Any:
    """Run one control command."""
    op = command["op"]
    if op == "reset":
        emulator.reset(jobs=True)
        return {"ok": True}
    if op == "create":
        ids = [emulator.create_job(command.get("collection", "bench"), [["bench.json"]]) for _ in range(command["n"])]
        if command.get("advance"):
            emulator.advance(float(command["advance"]))
        return {"ids": ids}
    if op == "counters":
        return counters(emulator)
    if op == "history":  # a busy server: n finished jobs over the retention window, in several collections
        ids = emulator.add_history(
            int(command["n"]),
            collection=command.get("collection", "history"),
            collections=command.get("collections", 1),
        )
        return {"n": len(ids)}
    if op == "script":  # the next created jobs take these emulated seconds each (one script per job)
        for duration in command["durations"]:
            emulator.script_next_job(duration=float(duration))
        return {"ok": True}
    if op == "speed":  # emulated seconds per real second (0 freezes every job)
        emulator.clock.speed = float(command["speed"])
        return {"ok": True}
    if op == "ends":  # real seconds from now until each job ends (clock at speed 1)
        with emulator._lock:
            now = emulator.clock.now()
            jobs = [emulator._jobs[job_id] for job_id in command["ids"]]
            return {"seconds": [j.created + j.pending + j.importing + j.indexing - now for j in jobs]}
    if op == "set":  # change a knob, e.g. latency or job_duration
        for key, value in command["knobs"].items():
            setattr(emulator, key, value)
        return {"ok": True}
    raise ValueError(f"unknown op {op!r}")


def control_server(emulator: ImportEmulator) -> http.server.ThreadingHTTPServer:
    """The control route on an ephemeral port of 127.0.0.1."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

        def do_POST(self) -> None:
            """Run the command in the body."""
            length = int(self.headers.get("Content-Length") or 0)
            try:
                answer = json.dumps(handle(emulator, json.loads(self.rfile.read(length)))).encode()
                status = 200
            except Exception as error:
                answer, status = json.dumps({"error": repr(error)}).encode(), 500
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    """Start both servers, announce them, serve until stdin closes."""
    knobs = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    endpoint = None
    if knobs.get("endpoint"):
        from tests.emulator.grpc_server import MilvusEndpoint

        endpoint = MilvusEndpoint(knobs.pop("endpoint"), **knobs).start()
        emulator = endpoint.rest
    else:
        emulator = ImportEmulator(**knobs).start()
    control = control_server(emulator)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{control.server_address[1]}/control"
    base_url = endpoint.base_url if endpoint is not None else emulator.base_url
    print(json.dumps({"base_url": base_url, "control_url": url, "pid": os.getpid()}), flush=True)
    sys.stdin.read()  # returns at EOF: the parent closed our stdin or died
    control.shutdown()
    if endpoint is not None:
        endpoint.stop()
    else:
        emulator.stop()


if __name__ == "__main__":
    main()
