# hashgate: one image for the worker (default) and the PhotoDNA simulator.
#   docker build -t hashgate .
#   docker run --rm -e HASHGATE_KAFKA__BOOTSTRAP_SERVERS=... hashgate            # worker
#   docker run --rm -p 127.0.0.1:8000:8000 hashgate simulator serve --host 0.0.0.0 --port 8000

# Build stage: pdqhash ships no Linux wheel, so it compiles here (C++), away from the runtime.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/hashgate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY devtools ./devtools
RUN /opt/hashgate/bin/pip install --no-cache-dir .

FROM python:3.11-slim
COPY --from=build /opt/hashgate /opt/hashgate
ENV PATH=/opt/hashgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Non-root; faust keeps its data folder in the working directory, so that one is writable.
RUN groupadd --system --gid 10001 hashgate \
    && useradd --system --uid 10001 --gid hashgate --no-create-home --shell /usr/sbin/nologin \
        hashgate \
    && install -d -o hashgate -g hashgate /var/lib/hashgate
USER 10001:10001
WORKDIR /var/lib/hashgate

# Metrics and health pages: the worker on 6066; each agent on its own default port (README,
# "Web ports"), which the health check finds from the command PID 1 runs.
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; from streams.ports import DEFAULT_PORTS; cmd = open('/proc/1/cmdline', 'rb').read().split(b'\\0')[1].decode(); port = os.environ.get('HASHGATE_WEB__PORT') or DEFAULT_PORTS.get(cmd, 6066); urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

ENTRYPOINT ["hashgate"]
CMD ["worker"]
