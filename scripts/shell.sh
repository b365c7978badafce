#!/usr/bin/env bash
# Opens a terminal chat with the bot (`rasa shell`). Uses the action server of a running
# `make run` if there is one, otherwise starts its own for the length of the chat.
set -uo pipefail
umask 077  # the databases and logs under var/ hold customers' messages: owner only
cd "$(dirname "$0")/.."
. scripts/env.sh
LOG_DIR="${CAREDESK_LOG_DIR:-var/log}"
mkdir -p "$LOG_DIR"
: "${RASA_SHELL_PORT:=5006}"

own_actions=""
if ! curl -fsS -o /dev/null "http://127.0.0.1:$ACTION_PORT/health" 2>/dev/null; then
  SANIC_HOST=127.0.0.1 .venv/bin/python -m rasa_sdk --actions actions --port "$ACTION_PORT" \
    >"$LOG_DIR/actions-shell.log" 2>&1 &
  own_actions=$!
  trap 'kill -TERM $own_actions 2>/dev/null; wait $own_actions 2>/dev/null' EXIT
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$ACTION_PORT/health" 2>/dev/null && break
    sleep 0.5
  done
fi

echo "Loading the bot... then chat with CareDesk. Type /stop to end the chat."
# Library deprecation warnings are noise in a chat window; the logs still show errors.
PYTHONWARNINGS=ignore .venv-rasa/bin/rasa shell --model models/caredesk.tar.gz \
  --endpoints endpoints.yml --interface 127.0.0.1 --port "$RASA_SHELL_PORT"
