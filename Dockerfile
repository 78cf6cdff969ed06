# Empty Chair: slim image, non-root, database on a volume, Socket Mode or HTTP.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    EMPTYCHAIR_DB=/data/emptychair.db \
    EMPTYCHAIR_PROMPTS_DIR=/app/prompts \
    EMPTYCHAIR_HOST=0.0.0.0 \
    EMPTYCHAIR_PORT=3000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY prompts ./prompts
COPY data/sample_complaints.csv ./data/sample_complaints.csv
COPY manifest.json ./manifest.json
RUN pip install -e . \
    && useradd --create-home --uid 10001 chair \
    && mkdir -p /data \
    && chown chair:chair /data

USER chair
VOLUME ["/data"]
EXPOSE 3000

# HTTP mode answers /healthz; in Socket Mode there is no port, so the check passes while the
# process lives (a dead process stops the container anyway).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os,sys,urllib.request; sys.exit(0) if os.environ.get('SLACK_APP_TOKEN') else urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('EMPTYCHAIR_PORT','3000'), timeout=4)"

CMD ["emptychair", "serve"]
