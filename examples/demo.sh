#!/usr/bin/env bash
# lifeboat demo: fill a scratch directory, back it up into a local
# repository, change it, back it up again, restore into a fresh directory,
# and show that the restore equals the source. Everything it creates lives
# in one temporary directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d -t lifeboat-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== building lifeboat"
CGO_ENABLED=0 go build -o "$work/lifeboat" ./cmd/lifeboat
lifeboat() { "$work/lifeboat" "$@"; }

export LIFEBOAT_REPOSITORY="$work/repo"
export LIFEBOAT_PASSWORD="demo password, use LIFEBOAT_PASSWORD_FILE for real"

echo "== filling a scratch directory"
src="$work/data"
mkdir -p "$src/app/config" "$src/app/uploads" "$src/empty"
echo "listen: 8080" > "$src/app/config/app.yml"
head -c 8000000 /dev/urandom > "$src/app/uploads/photo.raw"
seq 1 200000 > "$src/app/log.txt"
ln -s config/app.yml "$src/app/current.yml"
chmod 0750 "$src"

echo "== lifeboat init"
lifeboat init
echo "== lifeboat backup (first)"
lifeboat backup --path "$src" --tag demo
echo "== changing one file, adding one"
echo "listen: 9090" > "$src/app/config/app.yml"
cp "$src/app/log.txt" "$src/app/log-copy.txt"   # deduplicated: no new data
echo "== lifeboat backup (second, incremental)"
lifeboat backup --path "$src" --tag demo
echo "== lifeboat snapshots"
lifeboat snapshots
first=$(lifeboat snapshots --json | grep -o '"short_id":"[0-9a-f]*"' | head -n 1 | cut -d '"' -f 4)
echo "== lifeboat diff $first latest"
lifeboat diff "$first" latest
echo "== lifeboat restore latest into a fresh directory"
lifeboat restore latest --target "$work/restored" --verify
echo "== lifeboat check --read-data"
lifeboat check --read-data
echo "== comparing source and restore"
diff -r "$src" "$work/restored"
[ "$(stat -c %a "$work/restored")" = 750 ]
echo "demo OK: the restore matches the source, byte for byte"
