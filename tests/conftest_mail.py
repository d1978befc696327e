"""A real Dovecot IMAP/LMTP server for the mail tests, started as in ecosystem.md §4.

Session-scoped: a configuration in a temporary directory, an unprivileged ``dovetest``
system user (created when missing; CI runs as root), IMAP and LMTP on free loopback
ports, one mailbox ``enkat@example.se`` / ``hemligt``. When Dovecot is not installed the
tests that use it fail (CI installs it in .ci/services.sh).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Dovecot:
    imap_port: int
    lmtp_port: int
    user: str = "enkat@example.se"
    password: str = "hemligt"
    directory: Path = Path()

    @property
    def imap_url(self) -> str:
        return f"imap://enkat%40example.se:{self.password}@127.0.0.1:{self.imap_port}/INBOX"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/run/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovetest
default_internal_group = dovetest
default_login_user = dovetest
first_valid_uid = 1
mail_location = maildir:{dir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid=dovetest gid=dovetest home={dir}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
"""


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(binary):
        pytest.fail("Dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)", pytrace=False)
    try:
        pwd.getpwnam("dovetest")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "dovetest"],
            check=True,
        )
    directory = tmp_path_factory.mktemp("dovecot")
    for parent in [directory, *directory.parents]:
        if str(parent) in ("/", "/tmp"):
            break
        parent.chmod(0o755)
    imap, lmtp = _free_port(), _free_port()
    (directory / "run" / "state").mkdir(parents=True)
    (directory / "mail").mkdir()
    (directory / "users").write_text("enkat@example.se:{PLAIN}hemligt\n")
    conf = directory / "dovecot.conf"
    conf.write_text(CONFIG.format(dir=directory, imap=imap, lmtp=lmtp))
    shutil.chown(directory / "mail", "dovetest", "dovetest")
    subprocess.run([binary, "-c", str(conf)], check=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", imap), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                log = (directory / "dovecot.log").read_text() if (directory / "dovecot.log").exists() else ""
                pytest.fail(f"Dovecot did not start: {log[-2000:]}", pytrace=False)
            time.sleep(0.2)
    try:
        yield Dovecot(imap, lmtp, directory=directory)
    finally:
        pid_file = directory / "run" / "master.pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], check=False)
