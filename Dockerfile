# The service alone: no test tools, no source tree. The locked dependencies are a layer of their
# own, rebuilt only when requirements.lock changes; a code change rebuilds the wheel and the
# one layer that installs it.

# The wheel, built with the locked pip and build backend.
FROM python:3.11-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements-build.lock ./
RUN pip install --require-hashes -r requirements-build.lock
COPY pyproject.toml setup.py README.md ./
COPY migrations ./migrations
COPY app ./app
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# The port `serve` listens on and the health check asks: `docker run -e AFTERCARE_PORT=...`
# moves both (EXPOSE only documents the default).
ARG PORT=8000
# Patient data (the SQLite file, FHIR export files) lives in the volume, never in the
# container's layer: recreating the container keeps it.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 AFTERCARE_DATA_DIR=/var/lib/aftercare AFTERCARE_PORT=$PORT

# The data directory is made 0700 for the service's user before VOLUME, so that a new named
# volume starts out with that owner and mode.
# The group by its number too: useradd --user-group would give it a system gid (995), and the
# USER line below names 10001:10001.
RUN groupadd --system --gid 10001 aftercare \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/aftercare \
        --shell /usr/sbin/nologin aftercare \
    && mkdir -m 0700 /var/lib/aftercare \
    && chown aftercare:aftercare /var/lib/aftercare

# --require-hashes: every package, indirect ones included, exactly as locked.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --no-deps --no-index /wheels/aftercare-*.whl

VOLUME ["/var/lib/aftercare"]
WORKDIR /var/lib/aftercare
USER 10001:10001
EXPOSE $PORT
# Start-up migrates the database first: a large migration may take a while.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['AFTERCARE_PORT'] + '/healthz', timeout=4)"]
# A shell only to read AFTERCARE_PORT; exec hands PID 1 (and SIGTERM) to the service.
CMD ["sh", "-c", "exec aftercare serve --host 0.0.0.0 --port \"$AFTERCARE_PORT\""]
