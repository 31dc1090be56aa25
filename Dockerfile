# bnviz hosted demo: `make docker` builds and runs it (see README, Hosting). CPU-only torch (~200 MB, not the
# multi-GB CUDA build PyPI serves on Linux), a non-root user, the port from $PORT, hosted mode on.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8501 BNVIZ_HOSTED=1 BNVIZ_DATA=/app/data

RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 bnviz

WORKDIR /app

# The CPU wheel index only here: requirements.txt keeps installing from PyPI alone (its index is unreachable
# from the dev machine). torch is installed first from that index; the pin in requirements.txt is then met.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -r requirements.txt

COPY --chown=bnviz:bnviz . .
# static/: the app copies plotly.min.js there at its first page; data/: full-dataset downloads (if allowed).
RUN mkdir -p /app/data && chown bnviz:bnviz /app/static /app/data

USER bnviz
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl --fail --silent "http://localhost:${PORT}/_stcore/health" || exit 1

# A bad hosting variable stops here with a message naming it (python -m bnviz.hosting), before any visitor.
CMD python -m bnviz.hosting && exec python -m streamlit run app.py --server.port="${PORT}" --server.address=0.0.0.0
