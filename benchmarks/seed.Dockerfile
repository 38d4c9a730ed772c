# The baseline: the classic single-stage recipe for a Streamlit + spaCy app, as most
# tutorials write it. One stage on the same base image, packages installed as root with pip
# (its cache included), the model installed at build, the source copied last, run by root.
# `nox -s bench` builds it from build/bench/seed/ with the same requirements and model wheel.
# The same base as docker/Dockerfile, where it is pinned: `nox -s bench` passes it.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

WORKDIR /app
COPY requirements.txt pip-requirements.txt ./
# pip first, upgraded to a current one as the tutorials' python:*-slim images ship it (the
# version and hash poetry.lock holds): Debian's pip 23.0.1 refuses the exported requirements
# in hash-checking mode ("all requirements must have their versions pinned with ==. These do
# not: smart-open[http]>=5.2.1", since smart-open 9.0.4). Only for this environment: Debian's
# python has no pip (its wheel is bundled) and downloads need the proxy's CA, given as a secret.
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if python3 -m pip --version; then pip="python3 -m pip"; \
    else pip="python3 $(ls /usr/share/python-wheels/pip-*.whl)/pip"; fi; \
    $pip install --break-system-packages --require-hashes -r pip-requirements.txt \
    && python3 -m pip install --break-system-packages -r requirements.txt

COPY model/ /tmp/model/
RUN python3 -m pip install --break-system-packages --no-deps /tmp/model/*.whl

COPY src/ ./src/
ARG MODEL_PACKAGE
ENV PYTHONPATH=/app/src NER_MODEL=${MODEL_PACKAGE}
EXPOSE 8501
CMD ["python3", "-m", "streamlit", "run", "src/ner_app/app.py", "--server.address=0.0.0.0"]
