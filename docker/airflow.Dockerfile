# docker compose's image (docker-compose.yaml builds it): Apache Airflow 3.3.2 on Python 3.11 (requires-python
# in pyproject.toml), plus docker/requirements-airflow.txt installed at build time, constrained by
# requirements.lock (never at container start). The Dockerfile in the repository root is the astro CLI's.
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
COPY docker/requirements-airflow.txt /tmp/docker/
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /tmp/docker/requirements-airflow.txt -c /tmp/requirements.lock

# dags/, plugins/, include/, great_expectations/ and dev/ are mounted read-only by docker compose; baked in
# too, so the image also runs without mounts. salestalk lives in plugins/ (on sys.path); PYTHONPATH adds it
# everywhere. dev/ (fake source API, moto bootstrap) is developer tooling for compose's moto-bootstrap and
# fakeapi services; /opt/airflow on PYTHONPATH makes it importable as `dev`. Nothing in plugins/ or dags/
# imports it. docker/compose_env.py is airflow-init's secret guard.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root great_expectations/ /opt/airflow/great_expectations/
COPY --chown=airflow:root dev/ /opt/airflow/dev/
COPY --chown=airflow:root docker/compose_env.py /opt/airflow/docker/compose_env.py
# Mount points of the named volumes, owned by the airflow user so that a new volume starts writable
# (airflow-init chowns them again for another AIRFLOW_UID).
RUN mkdir -p /opt/airflow/great_expectations/uncommitted /opt/airflow/.local /opt/airflow/warehouse
ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow \
    GX_ANALYTICS_ENABLED=false \
    AIRFLOW__AWS__SESSION_FACTORY=salestalk.aws_sessions.SharedModelSessionFactory
