# hashgate: the worker image (default target) and the PhotoDNA simulator image (target `simulator`).
#   docker build -t hashgate .
#   docker run --rm -e HASHGATE_KAFKA__BOOTSTRAP_SERVERS=... hashgate            # worker
#   docker build --target simulator -t hashgate-simulator .
#   docker run --rm -p 127.0.0.1:8000:8000 hashgate-simulator simulator serve --host 0.0.0.0 --port 8000

# Runtime build: every runtime dependency ships a wheel, so no compiler is installed here; a
# dependency that needs one fails this stage instead of slipping into the image.
FROM python:3.11-slim AS runtime-build
RUN python -m venv /opt/hashgate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY hashgate_tools ./hashgate_tools
RUN /opt/hashgate/bin/pip install --no-cache-dir .

# Simulator build: pdqhash (the `simulator` extra) ships no Linux wheel, so it compiles here (C++).
FROM python:3.11-slim AS simulator-build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/hashgate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY hashgate_tools ./hashgate_tools
RUN /opt/hashgate/bin/pip install --no-cache-dir '.[simulator]'

# What both images share: no compiler, a non-root user, a writable working directory.
FROM python:3.11-slim AS base
ENV PATH=/opt/hashgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Non-root; faust keeps its data folder in the working directory, so that one is writable.
RUN groupadd --system --gid 10001 hashgate \
    && useradd --system --uid 10001 --gid hashgate --no-create-home --shell /usr/sbin/nologin \
        hashgate \
    && install -d -o hashgate -g hashgate /var/lib/hashgate
WORKDIR /var/lib/hashgate
ENTRYPOINT ["hashgate"]

FROM base AS simulator
COPY --from=simulator-build /opt/hashgate /opt/hashgate
USER 10001:10001
EXPOSE 8000

# The worker image: the last stage, so a plain `docker build` makes it.
FROM base AS worker
COPY --from=runtime-build /opt/hashgate /opt/hashgate
USER 10001:10001
# Metrics and health pages: the worker on 6066; each agent on its own default port
# (docs/operations.md, "Web ports"), which the health check finds from the command PID 1 runs.
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; from streams.ports import DEFAULT_PORTS; cmd = open('/proc/1/cmdline', 'rb').read().split(b'\\0')[1].decode(); port = os.environ.get('HASHGATE_WEB__PORT') or DEFAULT_PORTS.get(cmd, 6066); urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
CMD ["worker"]
