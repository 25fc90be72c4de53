"""Run the web UI in a subprocess and drive it with headless Chromium (Debian's ``chromium`` package through
Playwright's Python API; no browser download): shared by the browser test and ``benchmarks/ui_screenshots.py``."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

CHROMIUM = Path("/usr/bin/chromium")
#: Flags that keep Chromium from reaching out (a closed network otherwise stalls it) and from needing a GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A TCP port free on localhost right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(*args: str, timeout: float = 180, temp_dir: str | Path | None = None) -> Iterator[str]:
    """``pixforge serve ARGS`` on a free localhost port until the block ends (then stopped with SIGTERM); yields
    its URL. ``temp_dir``: Gradio's file cache. The server's output goes to a temporary log, shown in the error if
    it does not come up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PIXFORGE_OFFLINE": "1",
           **({"GRADIO_TEMP_DIR": str(temp_dir)} if temp_dir else {})}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pixforge", "serve", "--port", str(port), *args],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"pixforge serve did not come up on {url}:\n{log.read()[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def browser(profile: str | Path, width: int = 1280, height: int = 900):
    """A headless Chromium page (empty profile in ``profile``) that may load only localhost; yields (page,
    offsite), ``offsite`` collecting every other URL the page tried (and was refused)."""
    from playwright.sync_api import sync_playwright

    offsite: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height})
        try:
            context.route("**/*", only_local)
            yield context.pages[0] if context.pages else context.new_page(), offsite
        finally:
            context.close()
