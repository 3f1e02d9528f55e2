#!/usr/bin/env bash
# Roomy's reference local cluster: three nodes on one PostgreSQL database,
# a bus between them (its own NATS server, or Redis), S3 storage, and
# HAProxy in front (deploy/haproxy.cfg), all on loopback.
#
# With --bench it is the cluster test CI runs: `roomy-bench cluster` puts
# load through the proxy while this script applies the faults in turn
# (kill -9 a node; with NATS, also stop and restart the NATS server, then
# freeze it with SIGSTOP for 10 s), and the bench's verdict is the script's
# exit status. Without --bench the cluster serves until Ctrl-C.
#
#   deploy/local-cluster.sh --roomy target/debug/roomy --bus nats \
#       [--bench target/debug/roomy-bench] [--faults all|kill]
#       [--postgres URL] [--redis URL]
#       [--s3 URL --s3-bucket NAME] [--logs DIR] [-- BENCH ARGS...]
#
# --faults kill applies only the first fault, the node kill: with
# `-- --storm-clients 5000` it is the reconnect-storm benchmark
# (docs/BENCHMARKS.md).
#
# It creates a fresh database (dropped at the end) through --postgres, an
# admin connection (default postgres://postgres@127.0.0.1:5432/postgres),
# and a bucket per run on --s3; without --s3 it uses the S3 server answering
# at 127.0.0.1:9100, starting moto there if none does (.ci/s3.sh). With
# --bus redis it uses the Redis at --redis (never restarted: it may be
# shared) on a channel of its own. Everything it starts is stopped on exit;
# the logs stay in the folder it prints. Arguments after `--` go to
# `roomy-bench cluster` (more clients, a faster rate: see its --help).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
ROOMY=""
BENCH=""
BUS=""
PG_ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL="redis://127.0.0.1:6379"
S3_ENDPOINT=""
S3_BUCKET=""
S3_ACCESS_KEY_ID="${ROOMY_S3_ACCESS_KEY_ID:-roomy-cluster}"
S3_SECRET_ACCESS_KEY="${ROOMY_S3_SECRET_ACCESS_KEY:-roomy-cluster-secret}"
LOGS=""
FAULTS=all
NODES=3
BENCH_EXTRA=()

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --roomy) ROOMY="$2"; shift 2 ;;
    --bench) BENCH="$2"; shift 2 ;;
    --bus) BUS="$2"; shift 2 ;;
    --postgres) PG_ADMIN_URL="$2"; shift 2 ;;
    --redis) REDIS_URL="$2"; shift 2 ;;
    --s3) S3_ENDPOINT="$2"; shift 2 ;;
    --s3-bucket) S3_BUCKET="$2"; shift 2 ;;
    --logs) LOGS="$2"; shift 2 ;;
    --faults) FAULTS="$2"; shift 2 ;;
    -h | --help) usage ;;
    --) shift; BENCH_EXTRA=("$@"); break ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

fail() {
  echo "FATAL: $*" >&2
  exit 1
}

[ -x "$ROOMY" ] || fail "--roomy must name the roomy binary"
[ -z "$BENCH" ] || [ -x "$BENCH" ] || fail "--bench must name the roomy-bench binary"
case "$BUS" in
  nats | redis) ;;
  # The in-process bus: each node's hub reads what the others committed
  # from the database, but presence stays per node. Only for working on
  # the test itself; the bench is told not to check presence across nodes.
  inprocess) ;;
  *) fail "--bus must be nats or redis" ;;
esac
case "$FAULTS" in
  all | kill) ;;
  *) fail "--faults must be all or kill" ;;
esac
for tool in haproxy psql curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is needed"
done
if [ "$BUS" = nats ]; then
  [ -x /usr/sbin/nats-server ] || fail "/usr/sbin/nats-server is needed for --bus nats"
fi
# A build without the network bus would start and run on its in-process
# bus, and the test would not be what it says.
case "$BUS" in
  nats) key=nats_url ;;
  redis) key=bus_channel ;;
  *) key="" ;;
esac
if [ -n "$key" ] && ! "$ROOMY" print-config | grep -q "$key"; then
  fail "$ROOMY has no $key setting: this build cannot run several nodes on a $BUS bus"
fi

LOGS="${LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/roomy-cluster.XXXXXX")}"
mkdir -p "$LOGS"
echo "cluster logs: $LOGS"

# Cleanup: everything this script started, whatever happened.
NODE_PIDS=()
NATS_PID=""
HAPROXY_PID=""
BENCH_PID=""
DB_NAME=""
S3_STARTED=""
cleanup() {
  local status=$?
  set +e
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null
  # A frozen NATS server must thaw to die.
  [ -n "$NATS_PID" ] && kill -CONT "$NATS_PID" 2>/dev/null
  [ -n "$HAPROXY_PID" ] && kill "$HAPROXY_PID" 2>/dev/null
  for pid in "${NODE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${NODE_PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
  done
  [ -n "$NATS_PID" ] && kill "$NATS_PID" 2>/dev/null
  for pid in $HAPROXY_PID $NATS_PID $BENCH_PID; do
    wait "$pid" 2>/dev/null
  done
  if [ -n "$DB_NAME" ]; then
    # DROP DATABASE waits for a checkpoint, which takes half a minute on a
    # slow disk: it finishes in the background, after the verdict.
    nohup psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 &
    disown
  fi
  if [ -n "$S3_STARTED" ]; then
    stop_s3
  fi
  echo "cluster stopped; logs in $LOGS"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports, all at once so none repeats.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Waits until $1 answers 200, up to $2 seconds.
wait_http() {
  local url="$1" secs="$2"
  for _ in $(seq 1 $((secs * 10))); do
    curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Waits until something listens on 127.0.0.1:$1, up to 10 s.
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

read -r -a PORTS <<<"$(free_ports $((NODES + 2)))"
LB_PORT="${PORTS[0]}"
NATS_PORT="${PORTS[1]}"
NODE_PORTS=("${PORTS[@]:2}")

# The database: a fresh one per run.
DB_NAME="roomy_cluster_$$_${RANDOM}"
psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null ||
  fail "cannot create a database through $PG_ADMIN_URL"
DB_URL="${PG_ADMIN_URL%/*}/$DB_NAME"

# The bus.
BUS_ENV=()
start_nats() {
  /usr/sbin/nats-server -a 127.0.0.1 -p "$NATS_PORT" >>"$LOGS/nats.log" 2>&1 &
  NATS_PID=$!
  wait_port "$NATS_PORT" || fail "nats-server did not start (see $LOGS/nats.log)"
}
case "$BUS" in
  nats)
    # Core NATS only (no JetStream): the database is what keeps messages.
    start_nats
    BUS_ENV=(ROOMY_NATS_URL="nats://127.0.0.1:$NATS_PORT")
    echo "bus: nats-server (pid $NATS_PID) on 127.0.0.1:$NATS_PORT"
    ;;
  redis)
    command -v redis-cli >/dev/null || fail "redis-cli is needed for --bus redis"
    redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 || fail "Redis at $REDIS_URL does not answer"
    channel="roomy-cluster-$$-${RANDOM}${RANDOM}"
    BUS_ENV=(ROOMY_REDIS_URL="$REDIS_URL" ROOMY_BUS_CHANNEL="$channel")
    echo "bus: Redis at $REDIS_URL, channel $channel"
    ;;
  inprocess)
    echo "bus: in-process on each node (presence does not cross nodes)"
    ;;
esac

# Storage: S3, a bucket per run.
if [ -z "$S3_ENDPOINT" ]; then
  S3_URL="http://127.0.0.1:9100"
  # shellcheck source=.ci/s3.sh
  . "$repo/.ci/s3.sh"
  if ! s3_answers; then
    S3_STARTED=1
  fi
  ensure_s3
  S3_ENDPOINT="$S3_URL"
fi
if [ -z "$S3_BUCKET" ]; then
  S3_BUCKET="roomy-cluster-$$-${RANDOM}"
  # An S3 test server takes an unsigned PUT; a real one needs its own tool
  # (then pass --s3-bucket).
  curl -fsS -o /dev/null -X PUT "$S3_ENDPOINT/$S3_BUCKET" ||
    fail "cannot create bucket $S3_BUCKET on $S3_ENDPOINT (create one and pass --s3-bucket)"
fi
echo "storage: S3 at $S3_ENDPOINT, bucket $S3_BUCKET"

# The nodes: identical but for their port and data folder.
JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
NODE_ENV=(
  ROOMY_DATABASE_URL="$DB_URL"
  ROOMY_JWT_SECRET="$JWT_SECRET"
  ROOMY_STORAGE=s3
  ROOMY_S3_ENDPOINT="$S3_ENDPOINT"
  ROOMY_S3_BUCKET="$S3_BUCKET"
  ROOMY_S3_REGION=us-east-1
  ROOMY_S3_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID"
  ROOMY_S3_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY"
  ROOMY_TRUSTED_PROXIES=127.0.0.1
  ROOMY_PUBLIC_URL="http://127.0.0.1:$LB_PORT"
  "${BUS_ENV[@]}"
)
if [ -n "$BENCH" ]; then
  # The bench signs up hundreds of users from one address and sends
  # without pause: the per-address and per-user limits exist to stop that.
  NODE_ENV+=(ROOMY_REGISTRATIONS_PER_HOUR=0 ROOMY_GUESTS_PER_HOUR=0 ROOMY_SENDS_PER_SEC=0)
fi

start_node() {
  local i="$1" port="${NODE_PORTS[$(($1 - 1))]}"
  mkdir -p "$LOGS/node$i-data"
  env "${NODE_ENV[@]}" RUST_LOG="${RUST_LOG:-info}" "$ROOMY" \
    --listen "127.0.0.1:$port" --data-dir "$LOGS/node$i-data" >>"$LOGS/node$i.log" 2>&1 &
  NODE_PIDS[$(($1 - 1))]=$!
  # Not a job of this shell: a node killed on purpose is no news to report.
  disown
}
wait_node() {
  wait_http "http://127.0.0.1:${NODE_PORTS[$(($1 - 1))]}/readyz" 60 ||
    fail "node $1 did not become ready (see $LOGS/node$1.log)"
}
# The first node runs the migrations before the others start.
start_node 1
wait_node 1
for i in $(seq 2 "$NODES"); do start_node "$i"; done
for i in $(seq 2 "$NODES"); do wait_node "$i"; done
for i in $(seq 1 "$NODES"); do
  echo "node$i: http://127.0.0.1:${NODE_PORTS[$((i - 1))]} (pid ${NODE_PIDS[$((i - 1))]})"
done

# The load balancer. HAProxy sizes its connection limit from its
# open-files limit (two sockets per WebSocket): give it the hard limit, for
# the thousands of clients of a reconnect storm.
# ("unlimited" is no value for the soft limit: the kernel's ceiling is.)
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=$(cat /proc/sys/fs/nr_open)
ulimit -n "$hard_nofile" 2>/dev/null ||
  echo "warning: cannot raise the open-files limit to $hard_nofile: HAProxy's connection limit follows $(ulimit -n)"
ROOMY_LB_LISTEN="127.0.0.1:$LB_PORT" \
  ROOMY_NODE1="127.0.0.1:${NODE_PORTS[0]}" \
  ROOMY_NODE2="127.0.0.1:${NODE_PORTS[1]}" \
  ROOMY_NODE3="127.0.0.1:${NODE_PORTS[2]}" \
  haproxy -db -f "$repo/deploy/haproxy.cfg" >>"$LOGS/haproxy.log" 2>&1 &
HAPROXY_PID=$!
wait_http "http://127.0.0.1:$LB_PORT/readyz" 30 || fail "HAProxy did not answer (see $LOGS/haproxy.log)"
LB="http://127.0.0.1:$LB_PORT"
echo "load balancer: $LB (HAProxy pid $HAPROXY_PID)"

if [ -z "$BENCH" ]; then
  echo "serving; Ctrl-C stops everything"
  wait "$HAPROXY_PID"
  exit 0
fi

# The test: the bench in the background, the faults on a timeline.
CTL="$LOGS/control"
mkdir -p "$CTL"
bench_args=(cluster --url "$LB" --control-dir "$CTL"
  --presence-node "http://127.0.0.1:${NODE_PORTS[0]}"
  --watch-node "http://127.0.0.1:${NODE_PORTS[1]}")
[ "$BUS" = inprocess ] && bench_args+=(--in-process-bus)
bench_args+=("${BENCH_EXTRA[@]}")
"$BENCH" "${bench_args[@]}" > >(tee "$LOGS/bench.log") 2>&1 &
BENCH_PID=$!

event() {
  echo "$(date +%s%3N) $*" >>"$CTL/events"
  echo "fault: $*"
}
# Waits for the bench to write $1 into the control folder, up to $2 seconds.
wait_mark() {
  for _ in $(seq 1 $(($2 * 10))); do
    [ -e "$CTL/$1" ] && return 0
    kill -0 "$BENCH_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

wait_mark loaded 240 || fail "the bench did not get its load running (see $LOGS/bench.log)"
sleep 5
# (a) A node dies mid-load: its clients reconnect through the proxy to the
# others; its presence users must be seen offline within 60 s.
kill -9 "${NODE_PIDS[0]}"
event "kill -9 node1"
wait_mark presence-done 70 || echo "the bench did not report on presence in 70 s"
if [ "$BUS" = nats ] && [ "$FAULTS" = all ]; then
  sleep 3
  # (b) The bus goes away and comes back on the same address.
  kill "$NATS_PID"
  wait "$NATS_PID" 2>/dev/null || true
  event "nats-server stopped"
  sleep 3
  start_nats
  event "nats-server started again"
  sleep 8
  # (c) The bus stays connected but says nothing for 10 s.
  kill -STOP "$NATS_PID"
  event "nats-server SIGSTOP"
  sleep 10
  kill -CONT "$NATS_PID"
  event "nats-server SIGCONT"
fi
# Load goes on a little after the last fault.
sleep 8
touch "$CTL/done"

status=0
wait "$BENCH_PID" || status=$?
BENCH_PID=""

# What each process that is still up used: CPU seconds and peak memory.
ticks=$(getconf CLK_TCK)
resources() {
  local name="$1" pid="$2"
  [ -r "/proc/$pid/stat" ] || return 0
  local cpu peak
  # Fields 14 and 15 of stat: user and system time, in clock ticks (the
  # name in field 2 has no spaces here).
  cpu=$(awk -v t="$ticks" '{printf "%.1f", ($14 + $15) / t}' "/proc/$pid/stat")
  peak=$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
  echo "  $name: ${cpu} s CPU, peak RSS ${peak} MiB"
}
echo "resources (the whole run, set-up included):"
for i in $(seq 1 "$NODES"); do resources "node$i" "${NODE_PIDS[$((i - 1))]}"; done
resources haproxy "$HAPROXY_PID"
[ -n "$NATS_PID" ] && resources nats-server "$NATS_PID"
if [ "$status" -ne 0 ]; then
  for i in $(seq 1 "$NODES"); do
    echo "--- last lines of node$i.log"
    tail -n 15 "$LOGS/node$i.log" || true
  done
  echo "FAILED: the cluster test ($BUS bus) failed; logs in $LOGS" >&2
fi
exit "$status"
