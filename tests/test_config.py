"""The secrets generated in `home`: one per name, whoever asks first, never half-written."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from kaimen.config import Settings


def test_many_asking_at_once_all_get_the_one_key_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    start = threading.Barrier(16)
    seen: list[str] = []

    def ask() -> None:
        settings = Settings(home=home)
        start.wait()
        seen.append(settings.admin_token_value())

    askers = [threading.Thread(target=ask) for _ in range(16)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    assert len(seen) == 16
    assert set(seen) == {(home / "admin.token").read_text().strip()}
    assert sorted(p.name for p in home.iterdir()) == ["admin.token"]
    assert stat.S_IMODE((home / "admin.token").stat().st_mode) == 0o600


def test_a_key_written_by_another_process_after_the_look_is_the_one_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other process writes its key between this one's look for the file and its own write:
    # the CLI's ingests started together met exactly this.
    home = tmp_path / "home"
    home.mkdir()
    theirs = Settings(home=home).admin_token_value()
    real_exists = Path.exists
    looks: list[Path] = []

    def missed_once(path: Path, **kwargs: bool) -> bool:
        if path.name == "admin.token" and not looks:
            looks.append(path)
            return False
        return real_exists(path, **kwargs)

    monkeypatch.setattr(Path, "exists", missed_once)
    assert Settings(home=home).admin_token_value() == theirs
    assert looks, "the race was not staged"
    assert sorted(p.name for p in home.iterdir()) == ["admin.token"]


def test_a_configured_token_is_used_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIMEN_ADMIN_TOKEN", "a-token-of-enough-length")
    settings = Settings(home=tmp_path / "home")
    assert settings.admin_token_value() == "a-token-of-enough-length"
    assert not (tmp_path / "home").exists()
