# syntax=docker/dockerfile:1
# CareDesk's application image: the gateway (`python -m bot`, the default command), the action
# server (`python -m actions.serve`) and the one-shot migration (`python -m caredesk.db migrate`)
# all run from it, with different commands (docker-compose.yml). The same code and pins as
# `make setup`'s .venv, without the test and benchmark tools. Build from the repository root:
#   docker build -f docker/app.Dockerfile -t caredesk-app .
# No secret is baked in: they all come from the environment at run time (docker/.env.example).

FROM python:3.10-slim AS dependencies
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml requirements.txt ./
# The runtime dependencies are those pyproject.toml lists, at the versions requirements.txt
# pins (requirements.txt also pins pytest, playwright and matplotlib, which production skips).
RUN sed -n '/^dependencies = \[/,/^\]/p' pyproject.toml | grep -o '"[^"]*"' | tr -d '"' > runtime.txt \
 && python -m venv /opt/caredesk \
 && /opt/caredesk/bin/pip install -c requirements.txt -r runtime.txt

FROM python:3.10-slim
RUN groupadd --system --gid 10001 caredesk \
 && useradd --system --uid 10001 --gid caredesk --create-home --home-dir /home/caredesk caredesk
COPY --from=dependencies /opt/caredesk /opt/caredesk
ENV PATH=/opt/caredesk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PTB_TIMEDELTA=true \
    SQLALCHEMY_SILENCE_UBER_WARNING=1
WORKDIR /app
# Owned by root and read-only to the service user: the code cannot be changed by the process
# that runs it. Logs go to standard output (docker logs), data to PostgreSQL.
COPY alembic.ini company.yml domain.yml emails.yml ./
COPY migrations/ migrations/
COPY caredesk/ caredesk/
COPY actions/ actions/
COPY bot/ bot/
COPY docker/healthcheck.py docker/healthcheck.py
USER caredesk
EXPOSE 8000 5055
CMD ["python", "-m", "bot"]
