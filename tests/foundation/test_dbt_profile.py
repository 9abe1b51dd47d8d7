"""The dbt profile the jobs hand to dbt: written once, replaced in one step, never rewritten in place."""

from __future__ import annotations

import os
import threading
import time

import pytest

from rapidtrader import PROJECT_ROOT, dbt_runner


def test_the_profile_is_written_once_and_a_stale_one_is_replaced(tmp_path, monkeypatch):
    if (PROJECT_ROOT / "profiles.yml").exists():
        pytest.skip("a developer's own profiles.yml wins and nothing is written")
    monkeypatch.setenv("RT_STATE_DIR", str(tmp_path))
    example = (PROJECT_ROOT / "profiles.example.yml").read_bytes()

    folder = dbt_runner.profiles_dir()
    profile = folder / "profiles.yml"
    assert folder == tmp_path / "dbt" and profile.read_bytes() == example
    written = (profile.stat().st_ino, profile.stat().st_mtime_ns)
    time.sleep(0.01)
    dbt_runner.profiles_dir()
    assert (profile.stat().st_ino, profile.stat().st_mtime_ns) == written, "an unchanged profile is left alone"

    profile.write_text("stale: true\n")
    dbt_runner.profiles_dir()
    assert profile.read_bytes() == example
    assert [p.name for p in folder.iterdir()] == ["profiles.yml"], "no partial file is left behind"


def test_a_reader_never_sees_a_partial_profile(tmp_path, monkeypatch):
    """Jobs running at the same time: while one replaces a stale profile, another reads it whole."""
    if (PROJECT_ROOT / "profiles.yml").exists():
        pytest.skip("a developer's own profiles.yml wins and nothing is written")
    monkeypatch.setenv("RT_STATE_DIR", str(tmp_path))
    example = (PROJECT_ROOT / "profiles.example.yml").read_bytes()
    profile = dbt_runner.profiles_dir() / "profiles.yml"
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(profile.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    stale = tmp_path / "stale.yml"
    try:
        for _ in range(300):
            stale.write_text("stale: true\n")
            os.replace(stale, profile)  # an older release's profile, put there whole
            dbt_runner.profiles_dir()
    finally:
        done.set()
        reader.join()
    assert seen <= {example, b"stale: true\n"}
