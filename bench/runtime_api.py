"""A minimal Lambda Runtime API endpoint for measuring init time.

It serves GET /2018-06-01/runtime/invocation/next and records when the first poll arrives
(time.perf_counter, same clock as the driver that starts the process). The poll is held open
until the driver has read what it wants (peak RSS of the process) and released it; the
driver then kills the process. Standalone: `python runtime_api.py PORT` prints each poll.
"""

import http.server
import threading
import time


class RuntimeApi:
    def __init__(self, port=0):
        self.polled = threading.Event()
        self.release = threading.Event()
        self.poll_time = None
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                if self.path == "/2018-06-01/runtime/invocation/next":
                    if not api.polled.is_set():
                        api.poll_time = time.perf_counter()
                        api.polled.set()
                    api.release.wait(10)
                # No invocation is ever handed out: the measurement ends at the first poll.
                body = b'{"errorMessage":"bench: no invocations"}'
                try:
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the process was killed first: expected

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arm(self):
        """Prepares for the next process."""
        self.release.set()
        self.polled = threading.Event()
        self.release = threading.Event()
        self.poll_time = None

    def close(self):
        self.release.set()
        self.server.shutdown()


if __name__ == "__main__":
    import sys

    api = RuntimeApi(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"runtime API on 127.0.0.1:{api.port}", flush=True)
    while True:
        api.polled.wait()
        print(f"poll at {api.poll_time:.6f}", flush=True)
        api.arm()
