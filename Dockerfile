# Sentinel on the official Airflow image, installed the way `make venv` (and so .ci/run) installs
# it: torch==2.13.0 first, then this package (editable) with its Airflow extra, Airflow itself
# held at the image's version. The shipped model is copied with the repository and named in
# SENTINEL_MODEL_DIR (an installed package carries no model).
#
#   docker build -t sentinel-airflow .                                            # CPU torch
#   docker build --build-arg TORCH_INDEX_URL=https://pypi.org/simple -t sentinel-airflow-gpu .
#
# On Linux x86_64 the torch wheel on PyPI is the CUDA build (large); the CPU index serves the
# small CPU-only build of the same version.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SENTINEL_MODEL_DIR=/opt/sentinel/models/sentinel-minilm \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/sentinel/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

USER root
RUN mkdir -p /opt/sentinel/data && chown -R airflow:0 /opt/sentinel
USER airflow
WORKDIR /opt/sentinel

RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" torch==2.13.0

# Dependencies first (cached while only code changes), then the rest of the repository.
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 sentinel ./sentinel
RUN pip install --no-cache-dir -e ".[airflow]" "apache-airflow==${AIRFLOW_VERSION}"
COPY --chown=airflow:0 . .
