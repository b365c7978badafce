#!/usr/bin/env bash
# Opens a terminal chat with the bot (`rasa shell`). Uses the action server of a running
# `make run` if it accepts this shell's ACTION_SERVER_TOKEN (set in .env or the environment),
# otherwise starts its own for the length of the chat. Secrets stay in the environment, never
# on a command line; the shell's own Rasa channel demands a channel secret too (engine/channel.py).
set -uo pipefail
umask 077  # the databases and logs under var/ hold customers' messages: owner only
cd "$(dirname "$0")/.."
. scripts/env.sh
LOG_DIR="${CAREDESK_LOG_DIR:-var/log}"
mkdir -p "$LOG_DIR"
: "${RASA_SHELL_PORT:=5006}"

random_secret() { .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))'; }
# The shell's Rasa server is its own, so its channel secret may as well be new each time.
[ -n "${CAREDESK_CHANNEL_SECRET:-}" ] || CAREDESK_CHANNEL_SECRET=$(random_secret)
export CAREDESK_CHANNEL_SECRET

accepts_token() {  # port: does the action server there take our token? (403 if not)
  [ -n "${ACTION_SERVER_TOKEN:-}" ] || return 1
  # The header goes through curl's standard input (-H @-), not its command line.
  printf 'X-CareDesk-Action-Token: %s\n' "$ACTION_SERVER_TOKEN" |
    curl -fsS -o /dev/null -H @- "http://127.0.0.1:$1/actions" 2>/dev/null
}

own_actions=""
if curl -fsS -o /dev/null "http://127.0.0.1:$ACTION_PORT/health" 2>/dev/null; then
  if ! accepts_token "$ACTION_PORT"; then
    # A running `make run` with its own random token: start a private action server beside it.
    ACTION_PORT=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    start_own=1
  else
    start_own=0
  fi
else
  start_own=1
fi
if [ "$start_own" = 1 ]; then
  [ -n "${ACTION_SERVER_TOKEN:-}" ] || ACTION_SERVER_TOKEN=$(random_secret)
  export ACTION_SERVER_TOKEN
  ACTION_ENDPOINT_URL="http://127.0.0.1:$ACTION_PORT/webhook"
  export ACTION_ENDPOINT_URL
  env -u RASA_TOKEN -u CAREDESK_CHANNEL_SECRET .venv/bin/python -m actions.serve --port "$ACTION_PORT" \
    >>"$LOG_DIR/actions-shell.log" 2>&1 &
  own_actions=$!
  trap 'kill -TERM $own_actions 2>/dev/null; wait $own_actions 2>/dev/null' EXIT
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$ACTION_PORT/health" 2>/dev/null && break
    sleep 0.5
  done
fi
export ACTION_SERVER_TOKEN

echo "Loading the bot... then chat with CareDesk. Type /stop to end the chat."
# Library deprecation warnings are noise in a chat window; the logs still show errors.
PYTHONWARNINGS=ignore .venv-rasa/bin/python -m engine.serve shell --model models/caredesk.tar.gz \
  --endpoints endpoints.yml --interface 127.0.0.1 --port "$RASA_SHELL_PORT"
