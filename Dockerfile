# One image for every APICensus role (migrate, inventory, analyzer, sensor); docker-compose.yml
# picks the role with the command. Build: docker-compose build (or docker build -t apicensus .).
FROM python:3.11-slim

# libpcap0.8: `apicensus sensor --bpf` compiles kernel filters through the system libpcap (ctypes).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpcap0.8 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APICENSUS_LOG_FORMAT=json

WORKDIR /opt/apicensus
COPY . .
# Editable on purpose: the analyzer's Alembic chain (migrations/ at the repository root) is found
# next to the analyzer package and is not part of a wheel, so a plain `pip install .` would ship
# an image whose `apicensus migrate` has no migrations to run.
# gcc only for the install: setup.py compiles the sensor's hot modules with mypyc (about 2x the
# packet rate); without a compiler it would fall back to pure Python. Removed again afterwards.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install -e . \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && apicensus --help >/dev/null \
    && python -c "import sensor._native as n; print('sensor:', n.describe())"

# Unprivileged by default (migrate, inventory, analyzer). The sensor service runs as root with
# NET_RAW/NET_ADMIN because AF_PACKET capture needs them (see docker-compose.yml); its spool
# directory is created here so a fresh named volume starts with the right owner.
RUN useradd --system --uid 10001 --home-dir /var/lib/apicensus --create-home apicensus \
    && install -d -o root -g root -m 0700 /var/spool/apicensus
USER apicensus
# A writable working directory for anything relative (the default sqlite:///apicensus.db when no
# APICENSUS_DATABASE_URL is given); the code stays read-only in /opt/apicensus.
WORKDIR /var/lib/apicensus

EXPOSE 8000
ENTRYPOINT ["apicensus"]
CMD ["--help"]
