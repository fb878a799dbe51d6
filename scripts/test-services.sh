#!/usr/bin/env bash
# Starts the servers the test suite needs on 127.0.0.1 with random ports,
# and prints the environment that points the tests at them:
#   eval "$(scripts/test-services.sh start DIR)"   ... scripts/test-services.sh stop DIR
# PostgreSQL comes from Debian's postgresql package (installed if missing,
# as root); it runs as the postgres user with fsync off, in DIR. Redis comes
# from Debian's redis-server package (installed if missing, as root); it runs
# as the calling user without persistence, its pid in DIR/redis/redis.pid.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

redis_ping() { python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.5); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)' "$1" 2>/dev/null; }

# start_redis DIR: a redis-server on a random loopback port, exporting
# SLUICE_TEST_REDIS_ADDR. Runs before PostgreSQL, whose part may exit early.
start_redis() {
  local rdir="$1/redis" bin port
  bin=$(command -v redis-server || true)
  if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) >&2
      bin=$(command -v redis-server)
    else
      echo "echo 'redis-server is not installed; skipping it' >&2"
      return 0
    fi
  fi
  mkdir -p "$rdir"
  port=$(free_port)
  "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$rdir" --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log" >/dev/null
  for _ in $(seq 1 50); do
    if redis_ping "$port"; then
      echo "export SLUICE_TEST_REDIS_ADDR='127.0.0.1:$port'"
      return 0
    fi
    sleep 0.1
  done
  echo "redis-server did not start on port $port; see $rdir/redis.log" >&2
  return 1
}

case "$cmd" in
start)
  start_redis "$dir"
  if [ -z "$pgbin" ]; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
      pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    else
      echo "echo 'PostgreSQL is not installed; skipping it' >&2"
      exit 0
    fi
  fi
  mkdir -p "$dir/pg"
  chown postgres "$dir" "$dir/pg" 2>/dev/null || true
  chmod 0777 "$dir"
  port=$(free_port)
  as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  as_pg "$pgbin/initdb -D '$dir/pg/data' -U postgres --auth=trust -E UTF8 >'$dir/pg/initdb.log' 2>&1"
  as_pg "$pgbin/pg_ctl -D '$dir/pg/data' -l '$dir/pg/pg.log' -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir/pg' -c fsync=off -c max_connections=200\" -w start >/dev/null"
  as_pg "$pgbin/createdb -h 127.0.0.1 -p $port -U postgres sluice_test"
  echo "export SLUICE_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:$port/sluice_test?sslmode=disable'"
  ;;
stop)
  if [ -f "$dir/redis/redis.pid" ]; then
    kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
    rm -f "$dir/redis/redis.pid"
  fi
  if [ -n "$pgbin" ] && [ -d "$dir/pg/data" ]; then
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$pgbin/pg_ctl -D '$dir/pg/data' -m immediate stop" >/dev/null 2>&1 || true
    else "$pgbin/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true; fi
  fi
  ;;
esac
