#!/usr/bin/env bash
# `make airflow`: Airflow standalone on this machine, running Sentinel's DAGs (dags/).
#
#   * Sentinel's data: SENTINEL_DATABASE_URL when set, otherwise the embedded PostgreSQL in
#     SENTINEL_DATA_DIR/pgdata. The embedded server listens on a Unix socket; its URL is resolved
#     once here and exported, and `sentinel db url --hold` keeps the server up until we exit.
#   * Airflow's metadata: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN when set, otherwise sqlite in
#     AIRFLOW_HOME (default: .airflow/ in the repository).
#   * The `gpu` pool (1 slot) is created, the DAGs are parsed, and once Airflow is healthy they
#     are unpaused and the UI address and the admin login are printed. Ctrl-C (or SIGTERM) stops Airflow and the embedded server.
#
# Variables: AIRFLOW_HOME, AIRFLOW_PORT (8080), AIRFLOW__API__HOST (127.0.0.1),
# AIRFLOW__CORE__PARALLELISM (2), VENV (.venv), and every SENTINEL_* setting (the feeds:
# SENTINEL_FEEDS_FILE, or SENTINEL_DEMO=true for the bundled samples).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/${VENV:-.venv}/bin
[[ -x $BIN/airflow ]] || { echo "error: $BIN/airflow not found; run 'make venv' first" >&2; exit 1; }

export PATH=$BIN:$PATH  # standalone starts its components as `airflow ...` from PATH
export AIRFLOW_HOME=${AIRFLOW_HOME:-$ROOT/.airflow}
export AIRFLOW_PORT=${AIRFLOW_PORT:-8080}
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-2}
export AIRFLOW__API__HOST=${AIRFLOW__API__HOST:-127.0.0.1}
export AIRFLOW__API__PORT=$AIRFLOW_PORT
export AIRFLOW__API__BASE_URL=${AIRFLOW__API__BASE_URL:-http://localhost:$AIRFLOW_PORT}
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$AIRFLOW_PORT/execution/
RUN=$AIRFLOW_HOME/run
mkdir -p "$RUN"

HOLDER= AIRFLOW=
stop() {
    trap - EXIT INT TERM
    if [[ -n $AIRFLOW ]] && kill -0 -- "-$AIRFLOW" 2>/dev/null; then
        echo "airflow-local: stopping Airflow" >&2
        # standalone and its components (scheduler, api-server, dag-processor, triggerer, task
        # workers) share one process group, and each stops cleanly on SIGTERM
        kill -TERM -- "-$AIRFLOW" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 -- "-$AIRFLOW" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$AIRFLOW" 2>/dev/null || true
        wait "$AIRFLOW" 2>/dev/null || true
    fi
    if [[ -n $HOLDER ]] && kill -0 "$HOLDER" 2>/dev/null; then
        echo "airflow-local: stopping the embedded PostgreSQL" >&2
        kill -TERM "$HOLDER" 2>/dev/null || true  # exits cleanly, which stops the server
        wait "$HOLDER" 2>/dev/null || true
    fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${SENTINEL_DATABASE_URL:-} ]]; then
    rm -f "$RUN/database-url"
    # its own session: Ctrl-C reaches this script only, which stops Airflow first, then the server
    setsid "$BIN/sentinel" db url --hold >"$RUN/database-url" 2>"$RUN/database-hold.log" &
    HOLDER=$!
    for _ in $(seq 120); do
        [[ -s $RUN/database-url ]] && break
        kill -0 "$HOLDER" 2>/dev/null || { cat "$RUN/database-hold.log" >&2; exit 1; }
        sleep 0.5
    done
    [[ -s $RUN/database-url ]] || { echo "error: the embedded PostgreSQL did not start in 60 s; see $RUN/database-hold.log" >&2; exit 1; }
    SENTINEL_DATABASE_URL=$(head -n1 "$RUN/database-url")
    export SENTINEL_DATABASE_URL
    echo "airflow-local: Sentinel data in the embedded PostgreSQL ($SENTINEL_DATABASE_URL)"
else
    echo "airflow-local: Sentinel data in SENTINEL_DATABASE_URL"
fi
"$BIN/sentinel" db upgrade
# The DAGs poll SENTINEL_FEEDS_FILE (SENTINEL_DEMO=true: the bundled samples); without either
# every ingest task fails at once with the error shown here. `feeds list` writes nothing.
"$BIN/sentinel" feeds list >/dev/null 2>"$RUN/feeds.log" \
    || echo "airflow-local: warning: $(cat "$RUN/feeds.log")" >&2

airflow db migrate >"$RUN/airflow-migrate.log" 2>&1 || { tail -n 30 "$RUN/airflow-migrate.log" >&2; exit 1; }
airflow pools set gpu 1 "Classification: one model in memory at a time" >/dev/null
airflow dags reserialize >"$RUN/airflow-reserialize.log" 2>&1 || { tail -n 30 "$RUN/airflow-reserialize.log" >&2; exit 1; }
# Paused until the API server answers: a task started earlier fails on its first try (the
# workers report to the API server), so the DAGs are unpaused once Airflow is healthy.
DAGS=(sentinel_pipeline sentinel_backfill)
for dag in "${DAGS[@]}"; do airflow dags pause "$dag" >/dev/null; done

echo "airflow-local: starting Airflow standalone (log: $RUN/standalone.log)"
setsid airflow standalone >"$RUN/standalone.log" 2>&1 &
AIRFLOW=$!
HEALTH=http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health
"$BIN/python" - "$HEALTH" "$AIRFLOW" <<'EOF' || { tail -n 40 "$RUN/standalone.log" >&2; exit 1; }
import json, os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
for _ in range(180):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("error: airflow standalone exited during start-up")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            health = json.load(response)
        if all(health.get(part, {}).get("status") == "healthy"
               for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
            sys.exit(0)
    except (OSError, ValueError):
        pass
    time.sleep(1)
sys.exit(f"error: Airflow was not healthy after 3 minutes ({url})")
EOF

for dag in "${DAGS[@]}"; do airflow dags unpause "$dag" >/dev/null; done

PASSWORDS=$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
cat <<EOF

Airflow is up: http://localhost:$AIRFLOW_PORT
  login:    admin / $("$BIN/python" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("admin", "?"))' "$PASSWORDS" 2>/dev/null || echo "(see $PASSWORDS)")
            (the password is kept in $PASSWORDS)
  DAGs:     sentinel_pipeline (every 15 min, unpaused), sentinel_backfill (manual)
  trigger:  AIRFLOW_HOME=$AIRFLOW_HOME $BIN/airflow dags trigger sentinel_pipeline
  logs:     $RUN/standalone.log and $AIRFLOW_HOME/logs/
Ctrl-C stops Airflow and the embedded PostgreSQL.
EOF
wait "$AIRFLOW"
