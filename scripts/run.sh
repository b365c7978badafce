#!/usr/bin/env bash
# Prepares the environment, then hands over to the supervisor (python -m launcher), which starts
# the action server, the Rasa server(s) (both on 127.0.0.1) and the gateway, prints where they
# are, restarts any of them that dies (with back-off, logged) while the others keep serving,
# and stops them all cleanly on Ctrl-C. Called by `make run`, which has already set up the
# environments, migrated the database and trained the model. See docs/reliability.md.
set -uo pipefail
umask 077  # the databases and logs under var/ hold customers' messages: owner only
cd "$(dirname "$0")/.."
. scripts/env.sh
export CAREDESK_LOG_DIR="${CAREDESK_LOG_DIR:-var/log}"  # each process's log, appended and rotated
mkdir -p "$CAREDESK_LOG_DIR"

# Three secrets, each made random for this run unless configured: the Rasa HTTP API's token
# (the gateway resumes conversations with it), the Rasa channel's secret (only the gateway may
# send messages) and the action server's token (only Rasa may run actions). They travel in
# the environment of the processes that need them (launcher/processes.py), never on a command
# line (/proc/*/cmdline is readable by every local user), and are never printed.
random_secret() { .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))'; }
[ -n "${RASA_TOKEN:-}" ] || RASA_TOKEN=$(random_secret)
[ -n "${CAREDESK_CHANNEL_SECRET:-}" ] || CAREDESK_CHANNEL_SECRET=$(random_secret)
[ -n "${ACTION_SERVER_TOKEN:-}" ] || ACTION_SERVER_TOKEN=$(random_secret)
export RASA_TOKEN CAREDESK_CHANNEL_SECRET ACTION_SERVER_TOKEN

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
: "${GATEWAY_HOST:=127.0.0.1}" "${GATEWAY_PORT:=8000}"
export GATEWAY_HOST GATEWAY_PORT

exec .venv/bin/python -m launcher
