#!/usr/bin/env bash
# services.sh — make sure PostgreSQL and Redis answer for lunas, starting
# private servers when they do not.
#
#   scripts/services.sh up ENVFILE   reach or start the services; note in ENVFILE what was
#                                    started, and LUNAS_DATABASE_URL=… when it differs
#   scripts/services.sh down ENVFILE stop only what `up` started (never the machine's own services)
#
# Which servers: LUNAS_DATABASE_URL and LUNAS_REDIS_URL (defaults as in API.md).
# Where one does not answer on a loopback address, the installed server binary
# is started on that port with its data in a scratch directory. Where the
# binary is missing, it is installed with apt-get when running as root;
# otherwise the script stops and prints the one command that fixes it.
# With LUNAS_PG_MIN_CONNECTIONS=N, a PostgreSQL on this machine that allows
# fewer than N connections is left alone and a private one is started on
# another port (below 32768) instead.
set -euo pipefail

cmd=${1:?usage: services.sh up|down ENVFILE}
envfile=${2:?usage: services.sh up|down ENVFILE}

db_url=${LUNAS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable}
redis_url=${LUNAS_REDIS_URL:-redis://127.0.0.1:6379/0}
# The connections the command needs from PostgreSQL (`make test`: 300).
need_conns=${LUNAS_PG_MIN_CONNECTIONS:-0}

say() { printf 'services: %s\n' "$*" >&2; }

# host and port out of a URL: scheme://[user[:pass]@]host[:port][/...]
url_host() { local r=${1#*://}; r=${r%%/*}; r=${r%%\?*}; r=${r##*@}; echo "${r%%:*}"; }
url_port() { local r=${1#*://}; r=${r%%/*}; r=${r%%\?*}; r=${r##*@}; [[ $r == *:* ]] && echo "${r##*:}" || echo "$2"; }

reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
is_loopback() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 ]]; }

apt_install() {
  if [[ $(id -u) != 0 ]]; then return 1; fi
  say "installing $* with apt-get"
  if [[ ! -f /tmp/.lunas-apt-updated ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && touch /tmp/.lunas-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null && command -v pg_ctl >/dev/null && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

fix_hint() {
  say "$1 is not reachable and its server is not installed."
  say "fix it with:  docker compose up -d postgres redis   (or: sudo apt-get install -y postgresql redis-server)"
  exit 1
}

# max_connections of the server at db_url, or nothing when psql is missing
# or cannot ask (the check is then skipped).
max_connections() {
  command -v psql >/dev/null || return 0
  local base=${db_url%%\?*}
  psql "${base%/*}/postgres?connect_timeout=5" -Atc 'SHOW max_connections' 2>/dev/null || true
}

up() {
  : > "$envfile"
  local scratch=""
  start_pg() {
    local port=$1 bin
    bin=$(pg_bindir) || { apt_install postgresql >/dev/null && bin=$(pg_bindir); } || fix_hint PostgreSQL
    mkscratch
    local data=$scratch/pg run=(); mkdir -p "$data"
    if [[ $(id -u) == 0 ]]; then
      id postgres >/dev/null 2>&1 || useradd --system --home "$scratch" postgres
      chown postgres "$scratch" "$data"; run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
      || "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $port -k $scratch -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=$((need_conns > 300 ? need_conns : 300))" start >/dev/null
    echo "PG_STARTED=$bin/pg_ctl|$data|${run[*]:-}" >> "$envfile"
    say "started a private PostgreSQL on 127.0.0.1:$port (data in $data)"
  }
  mkscratch() { [[ -n $scratch ]] || { scratch=$(mktemp -d "${TMPDIR:-/tmp}/lunas-services.XXXXXX"); chmod 755 "$scratch"; echo "SCRATCH=$scratch" >> "$envfile"; }; }

  local h p
  h=$(url_host "$db_url"); p=$(url_port "$db_url" 5432)
  if reachable "$h" "$p"; then
    local have; have=$(max_connections)
    if [[ -n $have && $have -lt $need_conns ]] && is_loopback "$h"; then
      # The test suite runs several lunas stacks at once; a server with
      # PostgreSQL's default of 100 connections refuses some of them
      # ("too many clients"). Leave that server alone and start a private
      # one beside it.
      local alt=$((p + 10000)); ((alt < 32768)) || alt=25432
      while reachable 127.0.0.1 "$alt"; do alt=$((alt + 1)); done
      say "PostgreSQL at $h:$p allows $have connections, fewer than the $need_conns this needs (LUNAS_PG_MIN_CONNECTIONS)"
      start_pg "$alt"
      local rest=${db_url#*://}; rest=${rest#*/}
      [[ $rest == "${db_url#*://}" ]] && rest=lunas
      echo "LUNAS_DATABASE_URL=postgres://postgres@127.0.0.1:$alt/$rest" >> "$envfile"
      say "using it: LUNAS_DATABASE_URL=postgres://postgres@127.0.0.1:$alt/$rest"
    else
      say "PostgreSQL answers at $h:$p (using it)"
    fi
  elif ! is_loopback "$h"; then
    say "PostgreSQL at $h:$p does not answer and is not on this machine"; exit 1
  else
    start_pg "$p"
  fi

  h=$(url_host "$redis_url"); p=$(url_port "$redis_url" 6379)
  if reachable "$h" "$p"; then
    say "Redis answers at $h:$p (using it)"
  elif ! is_loopback "$h"; then
    say "Redis at $h:$p does not answer and is not on this machine"; exit 1
  else
    command -v redis-server >/dev/null || apt_install redis-server >/dev/null || fix_hint Redis
    mkscratch
    mkdir -p "$scratch/redis"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$scratch/redis" --daemonize yes --pidfile "$scratch/redis/redis.pid" \
      --logfile "$scratch/redis/redis.log" --appendonly yes --maxmemory-policy noeviction --save "" >/dev/null
    for _ in $(seq 50); do reachable 127.0.0.1 "$p" && break; sleep 0.1; done
    echo "REDIS_STARTED=$scratch/redis/redis.pid" >> "$envfile"
    say "started a private Redis on 127.0.0.1:$p"
  fi
}

down() {
  [[ -f $envfile ]] || return 0
  local line
  while IFS= read -r line; do
    case $line in
      PG_STARTED=*)
        IFS='|' read -r pgctl data run <<<"${line#PG_STARTED=}"
        # shellcheck disable=SC2086
        $run "$pgctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
        say "stopped the private PostgreSQL" ;;
      REDIS_STARTED=*)
        kill "$(cat "${line#REDIS_STARTED=}" 2>/dev/null)" 2>/dev/null || true
        say "stopped the private Redis" ;;
    esac
  done < "$envfile"
  local scratch; scratch=$(sed -n 's/^SCRATCH=//p' "$envfile")
  [[ -n $scratch && -d $scratch ]] && rm -rf "$scratch"
  rm -f "$envfile"
}

case $cmd in
  up) up ;;
  down) down ;;
  *) echo "usage: services.sh up|down ENVFILE" >&2; exit 2 ;;
esac
