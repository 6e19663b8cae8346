# Production-like image for docker compose: Airflow 3.3.2 on Python 3.11 (requires-python in pyproject.toml),
# plus requirements.txt installed at build time, constrained by the lock (never at container start).
FROM apache/airflow:3.3.2-python3.11

USER root
# OS packages (Debian), one per line in packages.txt (astro reads it too; keep it free of comments). None today.
COPY packages.txt /tmp/packages.txt
RUN packages="$(grep -v '^\s*#' /tmp/packages.txt | xargs)"; \
    if [ -n "$packages" ]; then \
      apt-get update && apt-get install -y --no-install-recommends $packages && rm -rf /var/lib/apt/lists/*; \
    fi
USER airflow

COPY requirements.txt requirements.lock /tmp/
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /tmp/requirements.txt -c /tmp/requirements.lock

# dags/, plugins/, include/, great_expectations/ and dev/ are mounted by docker compose; baked in too, so the
# image also runs without mounts. salestalk lives in plugins/ (on sys.path); PYTHONPATH adds it everywhere.
# dev/ (fake source API, moto bootstrap) is developer tooling for compose's moto-bootstrap and fakeapi
# services; /opt/airflow on PYTHONPATH makes it importable as `dev`. Nothing in plugins/ or dags/ imports it.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root great_expectations/ /opt/airflow/great_expectations/
COPY --chown=airflow:root dev/ /opt/airflow/dev/
ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow \
    GX_ANALYTICS_ENABLED=false
