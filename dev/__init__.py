"""Developer and test tooling: fake source API, embedded stack, demo, local Airflow launcher. Never imported by plugins/."""
