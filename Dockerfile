# One image for every callpath process: the realtime service (`callpath serve`) and
# the Airflow components (airflow is a dependency of the project, pinned in uv.lock).
#
#   docker build -t callpath .
#
# Dependencies come from uv.lock only (`--frozen`: the lock is never re-resolved) and
# without the dev group (pytest, mongomock, playwright, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    AIRFLOW_HOME=/opt/airflow \
    PATH=/app/.venv/bin:$PATH

# uv itself comes from PyPI, like every other package.
RUN pip install --no-cache-dir uv

WORKDIR /app

# Third-party dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-cache

# Then the project. It is installed editable, so `pipelines/transform.py` finds the
# dbt project in /app/dbt next to the packages.
COPY README.md ./
COPY realtime ./realtime
COPY connectors ./connectors
COPY pipelines ./pipelines
COPY dags ./dags
COPY dbt ./dbt
RUN uv sync --frozen --no-dev --no-cache

# An unprivileged user owning the state directories (named volumes inherit this).
RUN useradd --create-home --uid 50000 --gid 0 callpath \
    && mkdir -p /app/var /app/reports /opt/airflow/logs \
    && chown -R callpath:0 /app/var /app/reports /app/dbt /opt/airflow
USER callpath

EXPOSE 8000 8080
CMD ["callpath", "serve", "--host", "0.0.0.0"]
