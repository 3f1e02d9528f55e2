# moto's S3 server for the suites and the cluster test: sourced by .ci/run
# and deploy/local-cluster.sh. The caller stops it (stop_s3, usually from
# its EXIT trap).

S3_URL="${S3_URL:-http://127.0.0.1:9100}"
# moto's S3 server lives in its own virtualenv, kept between runs when the cache survives.
MOTO_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/roomy-ci/moto"
S3_PID=""

# Whether the S3 test server answers.
s3_answers() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$S3_URL/" \
    >/dev/null 2>&1
}

# Starts moto's S3 server on 127.0.0.1:9100 (installing it first if missing)
# unless one already answers there; fails when it cannot be reached.
# moto, not s3s-fs: a 47 s pip install against minutes of compiling (see ARCHITECTURE.md).
ensure_s3() {
  if s3_answers; then
    echo "An S3 server already answers at $S3_URL: using it"
    return
  fi
  local python=python3
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    python="$MOTO_VENV/bin/python"
    if ! "$python" -c 'import moto.server' >/dev/null 2>&1; then
      echo "moto is missing: installing moto[server] into $MOTO_VENV"
      rm -rf "$MOTO_VENV"
      if ! { python3 -m venv "$MOTO_VENV" && "$MOTO_VENV/bin/pip" install --quiet 'moto[server]>=5,<6'; }; then
        echo "FATAL: cannot install moto[server]: the S3 suites and the cluster test cannot run" >&2
        exit 1
      fi
    fi
  fi
  local log
  log=$(mktemp)
  "$python" -m moto.server -H 127.0.0.1 -p 9100 >"$log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 1 60); do
    s3_answers && break
    kill -0 "$S3_PID" 2>/dev/null || break
    sleep 0.5
  done
  if ! s3_answers; then
    tail -n 20 "$log" >&2 || true
    echo "FATAL: the S3 test server (moto) at $S3_URL is unreachable: the S3 suites and the cluster test cannot run" >&2
    exit 1
  fi
  echo "moto S3 server started at $S3_URL (log: $log)"
}

# Stops the S3 server ensure_s3 started, if it did.
stop_s3() {
  if [ -n "$S3_PID" ]; then
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
  fi
}
