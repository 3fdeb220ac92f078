# Shared setup for scripts/demo and scripts/test: system packages, the Python
# environment and, unless PHIKAT_DATABASE_URL is set, a private PostGIS cluster
# under the project's data folder. Sourced, not run.
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${PHIKAT_DATA_DIR:-$PROJECT_DIR/.data}"
VENV_DIR="${PHIKAT_VENV_DIR:-$PROJECT_DIR/.venv}"
PG_USER=phikat
PHIKAT_STARTED_CLUSTER=0

log() { printf '\033[1;34m[phikat]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[phikat]\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Python -----------------------------------------------------------------

ensure_python() {
  command -v python3 >/dev/null || apt_install python3
  python3 - <<'PY' || die "Python 3.11 or newer is required"
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
  if [ ! -x "$VENV_DIR/bin/python" ]; then
    if ! python3 -m venv "$VENV_DIR" 2>/dev/null; then
      rm -rf "$VENV_DIR"
      apt_install python3-venv python3-dev gcc
      python3 -m venv "$VENV_DIR"
    fi
  fi
  local stamp
  stamp="$VENV_DIR/.installed-$(sha256sum "$PROJECT_DIR/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "installing the Python environment into $VENV_DIR"
    "$VENV_DIR/bin/python" -m pip install -q --upgrade pip
    "$VENV_DIR/bin/python" -m pip install -q -e "$PROJECT_DIR[dev]"
    rm -f "$VENV_DIR"/.installed-*
    touch "$stamp"
  fi
  export PATH="$VENV_DIR/bin:$PATH"
}

# --- Web assets and browser -------------------------------------------------

# The map's libraries (Leaflet, Chart.js) come from the npm registry at the
# versions in web/package-lock.json and are served by the app itself.
ensure_web_assets() {
  command -v npm >/dev/null || apt_install nodejs npm
  local stamp="$PROJECT_DIR/web/node_modules/.installed-$(sha256sum "$PROJECT_DIR/web/package-lock.json" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "installing the map's libraries from the npm registry"
    (cd "$PROJECT_DIR/web" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
  fi
}

# promtool (Debian's prometheus package), to check the alert rules in deploy/prometheus.
ensure_promtool() {
  command -v promtool >/dev/null || apt_install prometheus
}

# Debian's nginx, for the test that puts deploy/nginx/phikat.conf in front of two servers
# (a private nginx process of the test's own; the system service is not used). Debian's
# package holds the binary in /usr/sbin, which a user's PATH may lack.
ensure_nginx() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
}

# systemd-analyze (Debian's systemd package; nothing is started by installing it), to
# verify the units in deploy/systemd.
ensure_systemd_analyze() {
  command -v systemd-analyze >/dev/null || apt_install systemd
}

# Debian's Chromium, for the browser tests, and a Thai font for it to draw Thai with.
ensure_browser() {
  command -v chromium >/dev/null || apt_install chromium
  fc-list :lang=th 2>/dev/null | grep -q . || apt_install fonts-thai-tlwg
}

# --- PostGIS ----------------------------------------------------------------

pg_bindir() {
  # The newest installed PostgreSQL that also has PostGIS.
  local v
  for v in $(ls /usr/lib/postgresql 2>/dev/null | sort -rn); do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ] \
      && ls "/usr/share/postgresql/$v/extension/postgis.control" >/dev/null 2>&1; then
      echo "/usr/lib/postgresql/$v/bin"
      return 0
    fi
  done
  return 1
}

ensure_postgis_packages() {
  pg_bindir >/dev/null && return 0
  log "PostgreSQL with PostGIS is missing: installing Debian's packages"
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local v
  v=$(ls /usr/lib/postgresql | sort -rn | head -1)
  apt_install "postgresql-$v-postgis-3"
  pg_bindir >/dev/null || die "PostGIS did not install"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a PostgreSQL server binary as the cluster's owner: PostgreSQL refuses
# to run as root, so root runs it as the 'postgres' system user.
pg_as_owner() {
  # From /, which the postgres user can always enter (the checkout may be private).
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

cluster_dir() {
  # The cluster lives under the data folder, unless running as root in a
  # folder the 'postgres' user cannot reach (e.g. a private temp checkout).
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$DATA_DIR"; then
    echo "/var/tmp/phikat-pg-$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-12)"
  else
    echo "$DATA_DIR/pg"
  fi
}

ensure_cluster() {
  ensure_postgis_packages
  local bindir pgdir port password
  bindir=$(pg_bindir)
  mkdir -p "$DATA_DIR"
  pgdir=$(cluster_dir)
  if [ ! -f "$pgdir/PG_VERSION" ]; then
    log "creating a private PostGIS cluster in $pgdir"
    mkdir -p "$pgdir"
    chmod 700 "$pgdir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pgdir"
    if [ ! -f "$DATA_DIR/pg-password" ]; then
      (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$DATA_DIR/pg-password")
    fi
    local pwfile="$pgdir.pwfile"
    install -m 600 "$DATA_DIR/pg-password" "$pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres "$pwfile"
    pg_as_owner "$bindir/initdb" -D "$pgdir" -U "$PG_USER" --pwfile="$pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
  fi
  password=$(cat "$DATA_DIR/pg-password")
  if pg_as_owner "$bindir/pg_ctl" -D "$pgdir" status >/dev/null 2>&1; then
    port=$(cat "$DATA_DIR/pg-port")
  else
    port=${PHIKAT_PG_PORT:-54329}
    while port_busy "$port"; do port=$((port + 1)); done
    echo "$port" >"$DATA_DIR/pg-port"
    log "starting PostgreSQL on 127.0.0.1:$port"
    PHIKAT_STARTED_CLUSTER=1
    pg_as_owner "$bindir/pg_ctl" -D "$pgdir" -l "$pgdir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null \
      || { tail -20 "$pgdir/server.log" >&2; die "PostgreSQL did not start"; }
  fi
  export PGPASSWORD="$password"
  if ! psql -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -tAc \
      "select 1 from pg_database where datname = 'phikat'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -qc "create database phikat" >/dev/null
  fi
  export PHIKAT_LOCAL_PG_URL="postgresql+psycopg://$PG_USER:$password@127.0.0.1:$port"
}

# Sets PHIKAT_DATABASE_URL: the one given, or the private cluster's.
ensure_database() {
  if [ -n "${PHIKAT_DATABASE_URL:-}" ]; then
    log "using PHIKAT_DATABASE_URL from the environment"
    return 0
  fi
  command -v psql >/dev/null || apt_install postgresql-client
  ensure_cluster
  export PHIKAT_DATABASE_URL="$PHIKAT_LOCAL_PG_URL/phikat"
}

stop_cluster() {
  local bindir pgdir
  bindir=$(pg_bindir) || return 0
  pgdir=$(cluster_dir)
  [ -f "$pgdir/PG_VERSION" ] || return 0
  pg_as_owner "$bindir/pg_ctl" -D "$pgdir" status >/dev/null 2>&1 || return 0
  log "stopping the private PostgreSQL in $pgdir"
  pg_as_owner "$bindir/pg_ctl" -D "$pgdir" -m fast -w stop >/dev/null
}
