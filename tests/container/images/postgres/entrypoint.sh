# The official image's first start, reduced to what compose.yaml uses: a cluster owned by
# POSTGRES_USER with POSTGRES_PASSWORD, the database POSTGRES_DB, password logins from anywhere.
set -eu
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  chown postgres "$pwfile"
  as_postgres initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$pwfile" \
    -A scram-sha-256 -E UTF8 --locale=C.UTF-8
  rm "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE \"${POSTGRES_DB:-${POSTGRES_USER:-postgres}}\";" \
    | as_postgres postgres --single -D "$PGDATA" postgres > /dev/null
fi
exec setpriv --reuid postgres --regid postgres --init-groups "$@" -c listen_addresses='*'
