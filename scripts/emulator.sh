# Sourced by test.sh and bench.sh (with $root set to the clone): picks the cache
# outside the clone, installs the pinned Python tools in a virtualenv there, starts
# moto on a free loopback port (stopped when the caller exits), and exports the
# variables the tests and benchmarks read.
cache=${PRESTO_HA_CACHE:-$HOME/.cache/presto-ha}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
mkdir -p "$cache"

venv=$cache/venv
requirements=$root/scripts/requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "emulator.sh: installing the Python tools in $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$cache/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "emulator.sh: moto exited; see $cache/moto.log" >&2
    exit 1
  fi
  sleep 0.2
done

export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export PRESTO_HA_TOOLS=$venv/bin

