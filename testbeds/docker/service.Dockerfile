# The reference edge service (testbeds/service.py) as a container image.
# BASE is any Debian-like image with python3 >= 3.11. aiohttp (>= 3.9: the service passes
# shutdown_timeout to AppRunner) and libfaketime are installed only if the base lacks them, with
# pip and apt from the build container's network; no image registry is used.
ARG BASE=python:3.12-slim
FROM ${BASE}
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONPATH=/opt/edgeproof PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN set -e; \
    if ! python3 -c 'import sys, aiohttp; sys.exit(tuple(map(int, \
            aiohttp.__version__.split(".")[:2])) < (3, 9))' 2>/dev/null; then \
        python3 -m pip install -q --no-cache-dir --break-system-packages 'aiohttp>=3.9' \
        || python3 -m pip install -q --no-cache-dir 'aiohttp>=3.9'; fi; \
    lib="$(find /usr/lib /usr/local/lib -name libfaketime.so.1 2>/dev/null | head -n1)"; \
    if [ -z "$lib" ]; then \
        apt-get update -qq && apt-get install -y -qq --no-install-recommends libfaketime \
        && rm -rf /var/lib/apt/lists/*; \
        lib="$(find /usr/lib /usr/local/lib -name libfaketime.so.1 | head -n1)"; fi; \
    mkdir -p /opt/edgeproof/lib /data /edgeproof/clock /etc/edgeproof; \
    ln -sf "$lib" /opt/edgeproof/lib/libfaketime.so.1
COPY testbeds/ /opt/edgeproof/testbeds/
WORKDIR /data
ENTRYPOINT ["python3", "-m", "testbeds.service"]
CMD ["--config", "/etc/edgeproof/node.json"]
