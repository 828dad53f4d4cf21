# codeinterview API image.
#   docker build -t codeinterview .
#   docker run --init -p 8000:8000 -v codeinterview-data:/data codeinterview      (SQLite in /data)
#   docker run --init -p 8000:8000 -e DATABASE_URL=postgresql://... -e SECRET_KEY=... codeinterview
# With SQLite and no SECRET_KEY, the app generates one and keeps it beside the database in /data.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build: venv with the package
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
WORKDIR /src

# Dependencies first (from pyproject.toml, no dev extras) so code edits reuse this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt

# Then the package itself (a regular, non-editable install into the venv).
COPY . .
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/codeinterview --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite:////data/codeinterview.db

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app /data \
    && chown app:app /app /data

COPY --from=build /opt/venv /opt/venv
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
RUN chmod 0755 /usr/local/bin/docker-entrypoint

WORKDIR /app
USER app
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["docker-entrypoint"]
CMD ["codeinterview", "serve", "--host", "0.0.0.0", "--port", "8000"]
