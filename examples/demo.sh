#!/usr/bin/env bash
# lifeboat demo: fill a scratch Docker volume, back it up into a local
# repository through lifeboat's sidecar, restore it into a fresh volume and
# show that both are equal; then the same for a plain directory, with an
# incremental backup and a diff. Everything it creates (a temporary
# directory, two volumes, the sidecar image) is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d -t lifeboat-demo.XXXXXX)
vol="lifeboat-demo-$$"
cleanup() {
	docker volume rm -f "$vol" "$vol-restored" >/dev/null 2>&1 || true
	docker images -q lifeboat-sidecar | xargs -r docker image rm -f >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building lifeboat"
CGO_ENABLED=0 go build -o "$work/lifeboat" ./cmd/lifeboat
lifeboat() { "$work/lifeboat" "$@"; }

export LIFEBOAT_REPOSITORY="$work/repo"
export LIFEBOAT_PASSWORD="demo password, use LIFEBOAT_PASSWORD_FILE for real"

echo "== lifeboat init"
lifeboat init

echo "== filling a scratch volume $vol"
docker volume create --label app=demo "$vol" >/dev/null
mnt=$(docker volume inspect -f '{{.Mountpoint}}' "$vol")
mkdir -p "$mnt/db" && seq 1 100000 > "$mnt/db/table.csv" && echo "port: 5432" > "$mnt/db/conf.yml"
chown -R 999:999 "$mnt/db" && chmod 0700 "$mnt/db"
echo "== lifeboat backup $vol (through the sidecar)"
lifeboat backup "$vol"
echo "== lifeboat restore latest --volume $vol --to-volume $vol-restored"
lifeboat restore latest --volume "$vol" --to-volume "$vol-restored"
docker volume inspect -f 'restored volume {{.Name}}, labels {{.Labels}}' "$vol-restored"
diff -r "$mnt" "$(docker volume inspect -f '{{.Mountpoint}}' "$vol-restored")"
echo "the restored volume matches, byte for byte"

echo "== filling a scratch directory"
src="$work/data"
mkdir -p "$src/app/config" "$src/app/uploads" "$src/empty"
echo "listen: 8080" > "$src/app/config/app.yml"
head -c 8000000 /dev/urandom > "$src/app/uploads/photo.raw"
seq 1 200000 > "$src/app/log.txt"
ln -s config/app.yml "$src/app/current.yml"
chmod 0750 "$src"

echo "== lifeboat backup --path (first)"
lifeboat backup --path "$src" --tag demo
echo "== changing one file, adding one"
echo "listen: 9090" > "$src/app/config/app.yml"
cp "$src/app/log.txt" "$src/app/log-copy.txt"   # deduplicated: no new data
echo "== lifeboat backup (second, incremental)"
lifeboat backup --path "$src" --tag demo
echo "== lifeboat snapshots"
lifeboat snapshots
first=$(lifeboat snapshots --path "$src" --json | grep -o '"short_id":"[0-9a-f]*"' | head -n 1 | cut -d '"' -f 4)
echo "== lifeboat diff $first latest"
lifeboat diff "$first" latest
echo "== lifeboat restore latest into a fresh directory"
lifeboat restore latest --target "$work/restored" --verify
echo "== lifeboat check --read-data"
lifeboat check --read-data
echo "== comparing source and restore"
diff -r "$src" "$work/restored"
[ "$(stat -c %a "$work/restored")" = 750 ]
echo "demo OK: the volume and the directory restore byte for byte"
