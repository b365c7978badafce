import logging
import os
import stat
from pathlib import Path

from launcher.logfile import RotatingLog, RotatingLogHandler


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_log_is_appended_to_never_truncated_and_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_text("before the restart\n")
    path.chmod(0o644)
    log = RotatingLog(path, max_bytes=1000, backups=5)
    log.write(b"after the restart\n")
    log.close()
    again = RotatingLog(path, max_bytes=1000, backups=5)
    again.note("started gateway, pid 42")
    again.close()
    lines = path.read_text().splitlines()
    assert lines[:2] == ["before the restart", "after the restart"]
    assert "launcher: started gateway, pid 42" in lines[2]
    assert mode(path) == 0o600


def test_a_full_log_is_rotated_keeping_the_newest_old_files(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "rasa.log"
        log = RotatingLog(path, max_bytes=10, backups=2)
        for number in range(5):
            log.write(f"chunk {number}\n".encode())  # 8 bytes each: one per file
        log.close()
    finally:
        os.umask(old_umask)
    assert path.read_text() == "chunk 4\n"
    assert (tmp_path / "rasa.log.1").read_text() == "chunk 3\n"
    assert (tmp_path / "rasa.log.2").read_text() == "chunk 2\n"
    assert not (tmp_path / "rasa.log.3").exists()
    assert {mode(p) for p in tmp_path.iterdir()} == {0o600}


def test_the_supervisors_events_go_to_its_own_log(tmp_path: Path) -> None:
    handler = RotatingLogHandler(RotatingLog(tmp_path / "supervisor.log", max_bytes=10_000, backups=1))
    record = logging.LogRecord("launcher", logging.WARNING, __file__, 1, "rasa-1 exited: %s",
                               ("killed by SIGKILL",), None)
    handler.emit(record)
    handler.close()
    assert (tmp_path / "supervisor.log").read_text() == "rasa-1 exited: killed by SIGKILL\n"
