# syntax=docker/dockerfile:1
# The `chargeback` command on python:3.11-slim: the scheduler, the dashboard and every CLI command.
#   docker build -t chargeback .
#   docker run --rm chargeback --help
#   docker run --rm -v "$PWD/chargeback.toml:/etc/chargeback/chargeback.toml:ro" -v "$PWD/data:/var/lib/chargeback" \
#       chargeback bill --config /etc/chargeback/chargeback.toml --period 2026-10
# deploy/ runs it on EKS (see docs/install-eks.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: install the package (no test extras) into a virtual environment ----------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/chargeback
WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps everything else out of the context).
COPY pyproject.toml README.md ./
COPY chargeback ./chargeback
COPY collectors ./collectors
COPY dashboards ./dashboards
# A regular (not editable) install: the dashboard app and SQL models land in site-packages, compiled to
# .pyc here, since the running container's root filesystem is read-only.
RUN /opt/chargeback/bin/pip install . \
    && /opt/chargeback/bin/chargeback --help > /dev/null

# --- runtime: the virtual environment and a non-root user, nothing else ---------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/chargeback/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 chargeback \
    && useradd --system --uid 10001 --gid chargeback --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin chargeback \
    && mkdir -p /var/lib/chargeback /etc/chargeback \
    && chown chargeback:chargeback /var/lib/chargeback
COPY --from=build /opt/chargeback /opt/chargeback
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/chargeback
# 9090: the scheduler's /healthz and /metrics; 8501: the dashboard.
EXPOSE 9090 8501
ENTRYPOINT ["chargeback"]
CMD ["--help"]
