# Natalizumab CDS Hooks service.
# Build: docker build -t natalizumab-cds .    Run: docker run -p 8080:8080 natalizumab-cds
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDS_DATABASE_URL=sqlite:////data/cds_feedback.db
# A fixed numeric UID/GID (10001, as the Helm chart's runAsUser/runAsGroup) so that Kubernetes
# can verify runAsNonRoot. /data holds the SQLite feedback store when no PostgreSQL is set;
# nothing else is written at run time, so the image runs with a read-only root filesystem.
RUN groupadd --system --gid 10001 cds \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --create-home cds
COPY --from=build /opt/venv /opt/venv
# The FHIR examples are data for the optional HAPI loader (docker/load_hapi.py) and the demo.
COPY fhir_examples /app/fhir_examples
COPY docker /app/docker
WORKDIR /app
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"]
CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
