# syntax=docker/dockerfile:1
# CareDesk's Rasa image: Rasa 3.6 (the pins of `make setup`'s .venv-rasa), CareDesk's engine/
# plugins and a model trained while the image is built, from the same data/, domain.yml and
# config.yml as `make train`. To serve a model trained elsewhere instead, mount it read-only
# over /app/models (docker-compose.yml says how). Build from the repository root:
#   docker build -f docker/rasa.Dockerfile -t caredesk-rasa .
# No secret is baked in: RASA_TOKEN, CAREDESK_CHANNEL_SECRET and ACTION_SERVER_TOKEN come from
# the environment at run time, and engine.serve refuses them on the command line.

FROM python:3.10-slim AS rasa-env
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1
COPY requirements-rasa.txt /tmp/requirements-rasa.txt
RUN python -m venv /opt/rasa && /opt/rasa/bin/pip install -r /tmp/requirements-rasa.txt
ENV PATH=/opt/rasa/bin:$PATH
WORKDIR /app
COPY engine/ engine/

FROM rasa-env AS train
COPY config.yml domain.yml ./
COPY data/ data/
RUN rasa train --fixed-model-name caredesk --out models

FROM rasa-env
RUN groupadd --system --gid 10001 caredesk \
 && useradd --system --uid 10001 --gid caredesk --create-home --home-dir /home/caredesk caredesk
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONWARNINGS=ignore
COPY endpoints.yml credentials.yml ./
COPY --from=train /app/models/caredesk.tar.gz models/caredesk.tar.gz
COPY docker/healthcheck.py docker/healthcheck.py
USER caredesk
EXPOSE 5005
# The interface and port are given per service (docker-compose.yml): each Rasa container
# listens on its own name on the private network, never on 0.0.0.0.
ENTRYPOINT ["python", "-m", "engine.serve", "run", "--model", "models/caredesk.tar.gz", \
            "--endpoints", "endpoints.yml", "--credentials", "credentials.yml", "--enable-api"]
