#!/bin/sh
# The image's entry point: keep the secret key on the volume, migrate, then run the given command.
#   serve             python -m chatr.run on CHATR_HOST:CHATR_PORT (CHATR_PROCESSES servers, CHATR_WORKERS workers)
#   worker            manage.py webhook_worker (one more background worker)
#   anything else     run as given (e.g. `python manage.py createsuperuser`)
# CHATR_MIGRATE=0 skips the migrations (compose.yaml's worker leaves them to the server).
set -eu

if [ -z "${DJANGO_SECRET_KEY:-}" ] && [ ! -s /data/secret_key ]; then
    # Readable by chatr alone; settings read it through /app/.secret_key.
    (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(50))' > /data/secret_key.new) \
        && mv /data/secret_key.new /data/secret_key
fi

if [ "${CHATR_MIGRATE:-1}" != "0" ]; then
    python manage.py migrate --noinput --verbosity 1
fi

case "${1:-serve}" in
    serve)
        exec python -m chatr.run --host "${CHATR_HOST:-0.0.0.0}" --port "${CHATR_PORT:-8000}" ;;
    worker)
        exec python manage.py webhook_worker ;;
    *)
        exec "$@" ;;
esac
