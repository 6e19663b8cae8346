# The astro CLI's image: `astro dev start` in the repository root builds this file. Astro Runtime 3.3 is
# Airflow 3.3 with Astronomer's pinned providers; the -python-3.11 variant matches our lock (the Runtime's
# default Python is 3.12). The Runtime's ONBUILD steps install packages.txt and requirements.txt (which
# names no Airflow and no provider the Runtime ships) and copy the project into /usr/local/airflow.
# docker compose builds docker/airflow.Dockerfile instead.
FROM astrocrpublic.azurecr.io/runtime:3.3-2-python-3.11

# salestalk is in plugins/ (on Airflow's sys.path); the project root makes dev/ (fake API, moto bootstrap)
# importable for the scheduler's start-up seeding (docker-compose.override.yml).
ENV PYTHONPATH=/usr/local/airflow/plugins:/usr/local/airflow \
    GX_ANALYTICS_ENABLED=false \
    AIRFLOW__AWS__SESSION_FACTORY=salestalk.aws_sessions.SharedModelSessionFactory
