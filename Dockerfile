# Production image: slim, non-root, migrations then uvicorn; health is /readyz. Behind a load balancer or reverse
# proxy, set DVC_FORWARDED_ALLOW_IPS to its address(es) so rate limits see the citizen's address, not the proxy's.
# Prod also needs DVC_SECRETS_KEYS (`dvc secrets new-key`), DVC_OIDC_* and DVC_FAKEPAY_SECRET: see the README.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DVC_ENV=prod DVC_HOST=0.0.0.0 DVC_PORT=8000 DVC_WORKERS=2 DVC_STORAGE_DIR=/data/files DVC_VAR_DIR=/data/var \
    PROMETHEUS_MULTIPROC_DIR=/data/var/metrics
WORKDIR /srv/dvc
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
RUN pip install . && useradd --system --uid 10001 --home /srv/dvc dvc && mkdir -p /data && chown dvc /data
USER dvc
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request;urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"DVC_PORT\"]}/readyz',timeout=4)"
CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && find \"$PROMETHEUS_MULTIPROC_DIR\" -maxdepth 1 -name '*.db' -delete && dvc migrate && exec uvicorn app.main:create_app --factory --host \"$DVC_HOST\" --port \"$DVC_PORT\" --workers \"$DVC_WORKERS\" --no-access-log --no-proxy-headers --timeout-graceful-shutdown 20"]
