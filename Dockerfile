FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/aftercare

RUN useradd --create-home --uid 10001 aftercare

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# Editable install keeps migrations/ beside the code, where the service looks for them.
RUN pip install -e . && mkdir -p var && chown aftercare:aftercare var

USER aftercare
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["aftercare", "serve", "--host", "0.0.0.0", "--port", "8000"]
