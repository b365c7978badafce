#!/usr/bin/env bash
# Starts the action server and the Rasa server (both on 127.0.0.1) and the gateway, prints
# where they are, and stops all three cleanly on Ctrl-C (or when any of them dies). Called by `make run`,
# which has already set up the environments, migrated the database and trained the model.
set -uo pipefail
umask 077  # the databases and logs under var/ hold customers' messages: owner only
cd "$(dirname "$0")/.."
. scripts/env.sh
LOG_DIR="${CAREDESK_LOG_DIR:-var/log}"  # where each process writes its log
mkdir -p "$LOG_DIR"

# Three secrets, each made random for this run unless configured: the Rasa HTTP API's token
# (the gateway resumes conversations with it), the Rasa channel's secret (only the gateway may
# send messages) and the action server's token (only Rasa may run actions). They travel in
# the environment of the processes that need them, never on a command line (/proc/*/cmdline
# is readable by every local user), and are never printed.
random_secret() { .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))'; }
[ -n "${RASA_TOKEN:-}" ] || RASA_TOKEN=$(random_secret)
[ -n "${CAREDESK_CHANNEL_SECRET:-}" ] || CAREDESK_CHANNEL_SECRET=$(random_secret)
[ -n "${ACTION_SERVER_TOKEN:-}" ] || ACTION_SERVER_TOKEN=$(random_secret)
export RASA_TOKEN CAREDESK_CHANNEL_SECRET ACTION_SERVER_TOKEN

pids=()
stopping=0
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  echo
  echo "Stopping CareDesk..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  echo "CareDesk stopped."
}
trap stop INT TERM EXIT

wait_for() {  # url, name, pid
  for _ in $(seq 1 240); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then
      echo "The $2 exited while starting; its log is $LOG_DIR/$2.log:" >&2
      tail -n 20 "$LOG_DIR/$2.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "The $2 did not answer at $1 within 2 minutes; see $LOG_DIR/$2.log" >&2
  return 1
}

echo "Starting the action server on 127.0.0.1:$ACTION_PORT ..."
# Each process gets only the secrets it needs (env -u drops the others).
env -u RASA_TOKEN -u CAREDESK_CHANNEL_SECRET .venv/bin/python -m actions.serve --port "$ACTION_PORT" \
  >"$LOG_DIR/actions.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$ACTION_PORT/health" actions "${pids[0]}" || exit 1

if [ "$RASA_PROCESSES" -gt 1 ] && [ "$LOCK_STORE" != redis ]; then
  # Several Rasa processes must share their conversation locks, or two of them could handle
  # one conversation at once. Use Redis when it answers; otherwise run one process.
  if (exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT") 2>/dev/null; then
    LOCK_STORE=redis
  else
    echo "RASA_PROCESSES=$RASA_PROCESSES needs Redis for the lock store, and none answers at $REDIS_HOST:$REDIS_PORT; starting one Rasa process." >&2
    RASA_PROCESSES=1
  fi
fi
case "$TRACKER_STORE_URL" in
  sqlite*) [ "$RASA_PROCESSES" -gt 1 ] && echo "Note: $RASA_PROCESSES Rasa processes share the SQLite tracker store $TRACKER_STORE_URL; PostgreSQL (TRACKER_STORE_URL) suits several processes better." >&2 ;;
esac
export LOCK_STORE RASA_PROCESSES

echo "Starting $RASA_PROCESSES Rasa server process(es) from 127.0.0.1:$RASA_PORT (loading the model takes a little while) ..."
rasa_urls=() rasa_logs=()
for i in $(seq 0 $((RASA_PROCESSES - 1))); do
  port=$((RASA_PORT + i))
  rasa_logs+=("rasa$([ "$i" -gt 0 ] && echo "-$i")")
  rasa_urls+=("http://127.0.0.1:$port")
  # engine.serve hands RASA_TOKEN to Rasa inside the process (not as --auth-token here).
  PYTHONWARNINGS=ignore .venv-rasa/bin/python -m engine.serve run --model models/caredesk.tar.gz \
    --endpoints endpoints.yml --credentials credentials.yml --interface 127.0.0.1 --port "$port" \
    --enable-api >"$LOG_DIR/${rasa_logs[$i]}.log" 2>&1 &
  pids+=($!)
done
for i in "${!rasa_urls[@]}"; do
  wait_for "${rasa_urls[$i]}/" "${rasa_logs[$i]}" "${pids[$((i + 1))]}" || exit 1
done
RASA_URL=$(IFS=,; echo "${rasa_urls[*]}")

: "${GATEWAY_HOST:=127.0.0.1}" "${GATEWAY_PORT:=8000}"
export GATEWAY_HOST GATEWAY_PORT RASA_TOKEN RASA_URL
echo "Starting the gateway on $GATEWAY_HOST:$GATEWAY_PORT ..."
env -u ACTION_SERVER_TOKEN .venv/bin/python -m bot >"$LOG_DIR/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$GATEWAY_PORT/health" gateway "${pids[-1]}" || exit 1

public="${GATEWAY_PUBLIC_URL:-http://$GATEWAY_HOST:$GATEWAY_PORT}"
if [ -z "${TELEGRAM_TOKEN:-}" ]; then
  telegram="off (set TELEGRAM_TOKEN to turn it on; see README)"
elif [ -n "${TELEGRAM_WEBHOOK_URL:-}" ]; then
  telegram="on, webhook at $TELEGRAM_WEBHOOK_URL"
else
  telegram="on, long polling"
fi
cat <<MSG

CareDesk is running.
  Demo shop with the chat widget: $public/
  Agent console:                  $public/console
      (no account yet? in another terminal: make agent USERNAME=dana NAME=Dana)
  Telegram:                       $telegram
  Chat in a terminal:             make shell
  Rasa server (127.0.0.1 only):   $RASA_URL  (lock store: $LOCK_STORE)
  Action server (127.0.0.1 only): http://127.0.0.1:$ACTION_PORT
  Logs:                           $LOG_DIR/gateway.log, $LOG_DIR/rasa*.log, $LOG_DIR/actions.log
Press Ctrl-C to stop.
MSG

wait -n "${pids[@]}"
# Ctrl-C interrupts the wait too: the trap has stopped everything, so say nothing more.
[ "$stopping" = 1 ] && exit 0
echo "A CareDesk process exited unexpectedly; see $LOG_DIR/." >&2
exit 1
