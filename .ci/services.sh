#!/usr/bin/env bash
# Installs the Debian packages the tests use and starts the services they talk to.
# Safe to run again: installed packages and running services are left as they are.
set -euo pipefail

# PostgreSQL: on these machines it runs on 127.0.0.1:5432 (trust auth, database "test").
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL is down: starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432
