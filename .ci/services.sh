#!/usr/bin/env bash
# Installs the Debian packages the tests use and starts the services they talk to.
# Safe to run again: installed packages and running services are left as they are.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Debian packages: PDF text extraction (feedback tests), WeasyPrint's libraries and fonts,
# Dovecot (a real IMAP/LMTP server for the mail tests), Chromium (web chat tests).
PACKAGES=(poppler-utils fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
          dovecot-imapd dovecot-lmtpd chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL: on these machines it runs on 127.0.0.1:5432 (trust auth, database "test").
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL is down: starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

# axe-core for the accessibility checks of the web pages (from the npm registry).
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  npm install --no-audit --no-fund --silent >/dev/null
fi
