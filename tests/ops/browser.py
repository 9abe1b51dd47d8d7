"""Headless Chromium for the page tests (daily report, sweep page): load a page as a person's browser would and
read back what it drew. Tests skip when no Chromium is installed (.ci/run installs Debian's `chromium`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
SKIP_REASON = "chromium not installed: apt-get install -y chromium"

# Injected into a copy of the page (the pages themselves carry no script): after load, record each image's size.
PROBE = (
    "<script>window.addEventListener('load', () => { document.body.setAttribute('data-probe', "
    "JSON.stringify([...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]))); "
    "});</script>"
)


def _base_cmd(tmp_path: Path) -> list[str]:
    assert CHROMIUM is not None
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=5000",
    ]


def _run(cmd: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(tmp_path)})


def image_sizes(page: Path, tmp_path: Path) -> list[tuple[str, bool, int, int]]:
    """(alt, complete, natural width, natural height) of every image of `page` once Chromium has loaded it."""
    probed = tmp_path / f"probe_{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    out = _run([*_base_cmd(tmp_path), "--dump-dom", probed.as_uri()], tmp_path)
    match = re.search(r"data-probe=\"([^\"]*)\"", out.stdout)
    assert match, out.stdout[-2000:] + out.stderr[-2000:]
    return [tuple(i) for i in json.loads(match.group(1).replace("&quot;", '"'))]


def screenshot(page: Path, shot: Path, tmp_path: Path, size: str = "1100,2400") -> Path:
    """A PNG of `page` as Chromium shows it (to look at, and to check something was drawn)."""
    _run([*_base_cmd(tmp_path), f"--screenshot={shot}", f"--window-size={size}", page.as_uri()], tmp_path)
    return shot
