# One image for every line of the Procfile (compose.yaml starts each of them from it).
FROM python:3.11-slim-bookworm

# pysaml2 verifies XML signatures with the xmlsec1 program.
RUN apt-get update \
    && apt-get install -y --no-install-recommends xmlsec1 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --no-cache-dir .
COPY . .

# The static files go into the image at build time (hashed, compressed); the web process serves
# them itself. The values below only let the settings load: nothing of them is kept.
RUN DJANGO_SECRET_KEY=collectstatic-only BASE_URL=https://build.invalid \
    python manage.py collectstatic --noinput

RUN useradd --create-home --uid 10001 sso \
    && mkdir -p /app/var /metrics \
    && chown -R sso /app/var /metrics
USER sso

EXPOSE 8000
CMD ["gunicorn", "--config", "config/gunicorn.py", "config.wsgi"]
