# chatd's image: `docker build -t chatd .`, then `docker run -p 9000:9000 -v chatd-data:/data chatd`.
# BASE is the image users pull; the container test builds FROM a base made from Debian's packages
# instead (no registry is reachable there), with the same Python at another path: both stages use
# BASE, so the venv's interpreter link holds.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
# The Makefile's uv, pinned the same.
ARG UV_VERSION=0.13.9
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/chatd
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /src
# The locked dependencies first, in their own layer: a source change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --locked --no-dev --no-install-project
COPY src ./src
RUN /opt/uv/bin/uv sync --locked --no-dev --no-editable

FROM ${BASE}
# A fixed uid, so a volume's owner is known before the container first runs.
RUN groupadd --gid 10001 chatd \
    && useradd --uid 10001 --gid chatd --home-dir /data --no-create-home chatd \
    && mkdir /data && chown chatd:chatd /data
COPY --from=build /opt/chatd /opt/chatd
ENV PATH=/opt/chatd/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHATD_HOST=0.0.0.0 \
    CHATD_PORT=9000 \
    CHATD_DATABASE_URL=sqlite:////data/chatd.db
VOLUME /data
WORKDIR /data
USER 10001:10001
EXPOSE 9000
# No curl in the image: the interpreter that serves asks. /healthz says the process serves; a
# load balancer or orchestrator that needs the database asks /readyz itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/healthz', timeout=2)"]
# `chatd serve` applies the migrations before it listens.
CMD ["chatd", "serve"]
