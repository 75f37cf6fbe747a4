#!/bin/sh
# The image's entry point: keep the secret key on the volume, migrate, then run the given command.
#   serve             python -m chatr.run on CHATR_HOST:CHATR_PORT (CHATR_PROCESSES servers, CHATR_WORKERS workers)
#   worker            manage.py webhook_worker (one more background worker)
#   anything else     run as given (e.g. `python manage.py createsuperuser`)
# CHATR_MIGRATE=0 skips the migrations; CHATR_MIGRATE=wait leaves them to another container and waits until the
# database is migrated (compose.yaml's worker: an orchestrator that ignores `condition: service_healthy`, as podman
# before 4.6 does, starts it beside a server still migrating, and it must not crash on missing tables).
set -eu

if [ -z "${DJANGO_SECRET_KEY:-}" ] && [ ! -s /data/secret_key ]; then
    # Readable by chatr alone (mktemp: 0600); settings read it through /app/.secret_key. Linked into place, which
    # fails when it exists: of two containers starting on one new volume (server and worker), the first key wins
    # and both read it, where a rename would let the second replace the key the first already uses.
    new_key="$(mktemp /data/secret_key.XXXXXX)"
    python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$new_key"
    ln "$new_key" /data/secret_key 2>/dev/null || true
    rm -f "$new_key"
fi

case "${CHATR_MIGRATE:-1}" in
    0) ;;
    wait)
        waited=0
        until python manage.py migrate --check >/dev/null 2>&1; do
            if [ "$waited" -ge "${CHATR_MIGRATE_WAIT_SECONDS:-300}" ]; then
                echo "entrypoint: the database is still not migrated after ${waited} s" >&2
                python manage.py migrate --check
                exit 1
            fi
            [ "$waited" = 0 ] && echo "entrypoint: waiting for the server to migrate the database" >&2
            sleep 2
            waited=$((waited + 2))
        done ;;
    *)
        python manage.py migrate --noinput --verbosity 1 ;;
esac

case "${1:-serve}" in
    serve)
        exec python -m chatr.run --host "${CHATR_HOST:-0.0.0.0}" --port "${CHATR_PORT:-8000}" ;;
    worker)
        exec python manage.py webhook_worker ;;
    *)
        exec "$@" ;;
esac
