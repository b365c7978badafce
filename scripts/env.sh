# Sourced by every CareDesk script and make recipe: reads .env (a variable already set in the
# environment wins over .env), then sets the defaults endpoints.yml and the scripts rely on.
# Assumes the current directory is the project root.
if [ -f .env ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line#"${line%%[![:space:]]*}"}"
    case "$line" in ''|\#*) continue ;; esac
    key="${line%%=*}"
    value="${line#*=}"
    value="${value%\"}"; value="${value#\"}"; value="${value%\'}"; value="${value#\'}"
    if [ -z "${!key+set}" ]; then export "$key=$value"; fi
  done < .env
fi

: "${RASA_PORT:=5005}" "${ACTION_PORT:=5055}"
: "${ACTION_ENDPOINT_URL:=http://127.0.0.1:$ACTION_PORT/webhook}"
: "${TRACKER_STORE_URL:=sqlite:///var/tracker.db}"
: "${RASA_PROCESSES:=1}" "${LOCK_STORE:=in_memory}"
: "${REDIS_HOST:=127.0.0.1}" "${REDIS_PORT:=6379}" "${REDIS_DB:=1}"
export RASA_PORT ACTION_PORT ACTION_ENDPOINT_URL TRACKER_STORE_URL
export RASA_PROCESSES LOCK_STORE REDIS_HOST REDIS_PORT REDIS_DB
export RASA_TELEMETRY_ENABLED=false SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2
# python-telegram-bot: time periods as timedelta (its coming default; avoids a warning per 429)
export PTB_TIMEDELTA=true
