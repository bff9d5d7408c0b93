# Boots a node of the cluster: installs the engine's Java, downloads the engine and
# verifies it, writes its configuration (with the user's catalogs, extra files and
# secrets), runs the user's bootstrap script, starts the engine and tells
# CloudFormation it serves (a coordinator first completes its group's launch hook).
# Any failure stops the boot before the engine starts and signals FAILURE with the
# reason, which also goes to the system log; a coordinator's launch is abandoned, so
# that its group launches another at once.
#
# The user data sets these, from the stack, before this script:
: "${ROLE:?}" "${ENGINE:?}" "${ENGINE_VERSION:?}" "${TARBALL_SHA256?}"
: "${HTTP_PORT:?}" "${SECURITY:?}" "${HTTPS_PORT:?}" "${RECORD_NAME:?}"
: "${CREDENTIALS_REVISION:?}" "${SHARED_SECRET_ARN:?}" "${TLS_SECRET_ARN?}" "${USERS_SECRET_ARNS?}"
: "${TLS_CERTIFICATE_FIELD:?}" "${TLS_KEY_FIELD:?}"
: "${NODE_ENVIRONMENT:?}" "${ANNOUNCE_HOSTS:?}" "${DNS_CACHE_SECONDS:?}"
: "${METASTORE_TYPE:?}" "${METASTORE_HOST?}" "${METASTORE_PORT:?}"
: "${RETRY_POLICY:?}" "${EXCHANGE_BUCKET?}"
: "${EXTRA_CONFIG_URI?}" "${BOOTSTRAP_SCRIPT_URI?}" "${DRAIN_HOOK?}" "${DRAIN_SECONDS?}"
: "${LAUNCH_HOOK?}"
: "${STACK_NAME:?}" "${SIGNAL_RESOURCE:?}" "${REGION:?}"
set -euo pipefail
umask 022
export PATH="$PATH:/opt/aws/bin"

signal() {
  cfn-signal --exit-code "$1" --reason "$2" --stack "$STACK_NAME" \
    --resource "$SIGNAL_RESOURCE" --region "$REGION" || true
}

# Says why the boot stopped (system log, console and CloudFormation) and stops it.
fail() {
  echo "presto-ha boot failed: $1" >&2
  logger -t presto-ha "boot failed: $1" || true
  if [ -f "$ready" ]; then
    bash "$ready" abandon || true
  fi
  # A worker has no launch to abandon: it tells its group it is unhealthy, and the
  # group replaces it.
  if [ "$ROLE" = worker ] && [ -f "$lifecycle" ]; then
    replace_self || true
  fi
  signal 1 "$1"
  exit 1
}
ready=/usr/local/sbin/presto-ha-ready
lifecycle=/usr/local/lib/presto-ha/lifecycle.sh
trap 'fail "line $LINENO: $BASH_COMMAND exited with $?"' ERR

case "$ROLE" in
  coordinator | worker) ;;
  *) fail "unknown role '$ROLE'" ;;
esac
# release_at_least V: whether ENGINE_VERSION is V or later (numeric, part by part).
release_at_least() {
  [ "$(printf '%s\n%s\n' "$1" "$ENGINE_VERSION" | sort -V | head -n 1)" = "$1" ]
}
case "$ENGINE" in
  presto)
    # prestodb runs on Java 17 from 0.295; before it, on Java 11 (it fails at start-up
    # on 17: Guice cannot open java.lang).
    java_package=java-17-amazon-corretto-headless
    release_at_least 0.295 || java_package=java-11-amazon-corretto-headless
    artifact=com/facebook/presto/presto-server
    ;;
  trino)
    java_package=java-25-amazon-corretto-headless
    artifact=io/trino/trino-server
    ;;
  *) fail "unknown engine '$ENGINE'" ;;
esac
case "$SECURITY" in
  tls | none) ;;
  *) fail "unknown client security '$SECURITY'" ;;
esac
service=$ENGINE
user=$ENGINE
# prestodb's bin/launcher runs launcher.py with `python`, which Amazon Linux 2023
# does not have: its python3 runs launcher.py itself.
launcher=/opt/$ENGINE/bin/launcher
[ "$ENGINE" = trino ] || launcher="/usr/bin/python3 /opt/$ENGINE/bin/launcher.py"
home=/opt/$ENGINE
etc=$home/etc
data_dir=/var/$ENGINE/data
work=$(mktemp -d /var/tmp/presto-ha-boot.XXXXXX)

# Waits for the engine to serve (up to 15 minutes; on a coordinator with TLS, HTTPS
# for the record's name with its certificate too), then completes the group's launch
# hook, if the node's group has one: CONTINUE, or ABANDON when the engine never
# served or when called as `presto-ha-ready abandon`. The end of this boot runs it,
# and on a coordinator so does every later boot: an instance the group kept stopped
# in its warm pool starts with everything in place, its engine starts from its
# enabled service, and this tells the group it may serve. Nothing is installed or
# downloaded again.
# What the node's own scripts share: the instance's metadata (IMDSv2) and completing
# one of its group's lifecycle hooks. The boot, the ready script and a worker's drain
# source it.
mkdir -p "${lifecycle%/*}"
cat >"$lifecycle" <<'LIFECYCLE'
# metadata PATH: the instance's metadata at PATH.
metadata() {
  local token
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) &&
    curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
# complete_hook HOOK RESULT: completes this instance's lifecycle action of its group's
# HOOK with RESULT; says in the system log when it could not (the hook's timeout then
# decides, with its default result).
complete_hook() {
  local instance group
  if ! instance=$(metadata instance-id) ||
    ! group=$(aws autoscaling describe-auto-scaling-instances --region "$REGION" --instance-ids "$instance" \
      --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text) ||
    ! aws autoscaling complete-lifecycle-action --region "$REGION" --lifecycle-hook-name "$1" \
      --auto-scaling-group-name "$group" --instance-id "$instance" --lifecycle-action-result "$2"; then
    logger -t presto-ha "could not complete the lifecycle hook $1 with $2; its timeout decides"
    return 1
  fi
}
# replace_self: marks this instance unhealthy, so that its group replaces it.
replace_self() {
  local instance
  instance=$(metadata instance-id) &&
    aws autoscaling set-instance-health --region "$REGION" --instance-id "$instance" \
      --health-status Unhealthy --no-should-respect-grace-period
}
LIFECYCLE
chmod 0644 "$lifecycle"
. /usr/local/lib/presto-ha/lifecycle.sh

mkdir -p /etc/presto-ha
cat >/etc/presto-ha/ready.env <<EOF
ROLE=$ROLE
SECURITY=$SECURITY
HTTP_PORT=$HTTP_PORT
HTTPS_PORT=$HTTPS_PORT
RECORD_NAME=$RECORD_NAME
CHAIN=$etc/tls/chain.pem
LAUNCH_HOOK=$LAUNCH_HOOK
REGION=$REGION
SERVICE=$service.service
EOF
cat >"$ready" <<'READY'
set -u
. /etc/presto-ha/ready.env
. /usr/local/lib/presto-ha/lifecycle.sh
serves() {
  curl -fsS "http://127.0.0.1:$HTTP_PORT/v1/info" 2>/dev/null \
    | python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["starting"])' 2>/dev/null || return 1
  [ "$ROLE:$SECURITY" = coordinator:tls ] || return 0
  # HTTPS for the record's name with its certificate: Trino answers 200 there,
  # prestodb 401 (it asks every request on its HTTPS port for a password).
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "$RECORD_NAME:$HTTPS_PORT:127.0.0.1" \
    --cacert "$CHAIN" "https://$RECORD_NAME:$HTTPS_PORT/v1/info") || return 1
  [ "$code" = 200 ] || [ "$code" = 401 ]
}
complete() {
  [ -z "$LAUNCH_HOOK" ] || complete_hook "$LAUNCH_HOOK" "$1" || true
}
if [ "${1:-}" = abandon ]; then
  complete ABANDON
  exit 0
fi
# Gives up on the engine with REASON: in the system log and, as the last line, on
# stderr (the boot's reason to CloudFormation); the launch is abandoned.
give_up() {
  logger -t presto-ha "$1"
  echo "$1" >&2
  complete ABANDON
  exit 1
}
for _ in $(seq 1 180); do
  if serves; then
    complete CONTINUE
    exit 0
  fi
  # An engine that exited at start-up (an unknown property, the wrong Java) never
  # serves, however often its unit restarts it: say the engine's own error line,
  # with the first of the numbered causes that both engines list below it.
  restarts=$(systemctl show -p NRestarts --value "$SERVICE" 2>/dev/null || true)
  if [ "${restarts:-0}" -gt 0 ]; then
    journal=$(journalctl -u "$SERVICE" -o cat --no-pager 2>/dev/null || true)
    error=$(grep -m 1 -E '(^|[[:space:]])ERROR([[:space:]]|:)|Error: ' <<<"$journal" || true)
    cause=$(grep -m 1 -E '^1\) ' <<<"$journal" || true)
    error="${error##*[[:space:]]ERROR[[:space:]]} $cause"
    give_up "$SERVICE exited at start-up: $(cut -c 1-400 <<<"${error% }")"
  fi
  sleep 5
done
give_up "the engine did not serve within 15 minutes"
READY
chmod 0755 "$ready"

dnf install -y "$java_package" python3 tar gzip openssl aws-cfn-bootstrap

# The engine tarball, over HTTPS only (a redirect to plain HTTP is refused), checked
# against the pinned SHA-256, else against the digest Maven Central publishes beside it.
server=${artifact##*/}-$ENGINE_VERSION
url=https://repo1.maven.org/maven2/$artifact/$ENGINE_VERSION/$server.tar.gz
download() {
  curl --proto =https --proto-redir =https -fsSL --retry 5 -o "$2" "$1"
}
tarball=$work/$server.tar.gz
download "$url" "$tarball" || fail "cannot download $url"
if [ -n "$TARBALL_SHA256" ]; then
  echo "$TARBALL_SHA256  $tarball" | sha256sum --check --status \
    || fail "$url does not match the pinned SHA-256 $TARBALL_SHA256"
else
  verified=
  for digest in sha512 sha1; do
    if download "$url.$digest" "$work/digest" 2>/dev/null; then
      expected=$(awk '{ print $1; exit }' "$work/digest")
      echo "$expected  $tarball" | "${digest}sum" --check --status \
        || fail "$url does not match its published $digest digest $expected"
      verified=$digest
      break
    fi
  done
  [ -n "$verified" ] || fail "no digest is published for $url (.sha512 or .sha1)"
fi

id "$user" >/dev/null 2>&1 || useradd --system --home-dir "/var/$ENGINE" --shell /sbin/nologin "$user"
rm -rf "/opt/$server"
tar -xzf "$tarball" -C /opt --no-same-owner
[ -d "/opt/$server/bin" ] || fail "$url holds no $server/bin"
ln -sfn "/opt/$server" "$home"
mkdir -p "$etc/catalog" "$data_dir"

instance_id=$(metadata instance-id)
# Seven tenths of the memory for the heap; the rest is for the OS and off-heap buffers.
heap=$(awk '/^MemTotal:/ { printf "%dM", $2 * 0.7 / 1024 }' /proc/meminfo)

cat >"$etc/node.properties" <<EOF
node.environment=$NODE_ENVIRONMENT
node.id=$instance_id
node.data-dir=$data_dir
EOF

# Every coordinator, active or standby, is a full coordinator that workers can
# announce to; the coordinator record decides which one the workers and clients use.
# config.properties comes to hold secrets: readable by the engine's group only.
install -m 0640 -g "$user" /dev/null "$etc/config.properties"
{
  if [ "$ROLE" = coordinator ]; then
    echo coordinator=true
    echo node-scheduler.include-coordinator=false
    # prestodb's coordinator hosts the discovery server; Trino refuses the property.
    [ "$ENGINE" = trino ] || echo discovery-server.enabled=true
  else
    echo coordinator=false
    # A draining worker waits this long before and after its last tasks (so that
    # the coordinator stops scheduling on it): 2 minutes each by default, which
    # would leave little of the default WorkerDrainSeconds to the tasks themselves.
    echo shutdown.grace-period=30s
    # An announcement to a coordinator that is gone (terminated, cut off) fails
    # within 5 s instead of hanging on its connection, so that the next one resolves
    # the record again and reaches the new coordinator.
    echo discovery.http-client.request-timeout=5s
    echo discovery.http-client.idle-timeout=5s
  fi
  echo "http-server.http.port=$HTTP_PORT"
  read -ra hosts <<<"$ANNOUNCE_HOSTS"
  if [ "$ENGINE" = trino ] && release_at_least 477; then
    # Trino (from 477) announces to every URI given: the record and each
    # coordinator's member record, so a standby knows the workers before it takes
    # over. Earlier releases refuse a list ("URI does not have a host").
    uris=
    for host in "${hosts[@]}"; do
      uris="${uris:+$uris,}http://$host:$HTTP_PORT"
    done
  else
    # prestodb's discovery client, and Trino's before 477, take one URI: the record.
    uris="http://${hosts[0]}:$HTTP_PORT"
  fi
  echo "discovery.uri=$uris"
} >"$etc/config.properties"

{
  echo -server
  echo "-Xmx$heap"
  echo -XX:+UseG1GC
  echo -XX:G1HeapRegionSize=32M
  echo -XX:+ExplicitGCInvokesConcurrent
  echo -XX:+ExitOnOutOfMemoryError
  echo -Djdk.attach.allowAttachSelf=true
  # A switch of the coordinator record reaches the JVM within one record TTL.
  echo "-Dsun.net.inetaddr.ttl=$DNS_CACHE_SECONDS"
  echo -Dsun.net.inetaddr.negative.ttl=1
  if [ "$ENGINE" = trino ]; then
    echo -XX:-OmitStackTraceInFastThrow
    echo -XX:ReservedCodeCacheSize=512M
    echo -Djdk.nio.maxCachedBufferSize=2000000
    echo -Dfile.encoding=UTF-8
    echo -XX:+EnableDynamicAgentLoading
    # Trino exits at start-up without the vector module.
    echo --add-modules=jdk.incubator.vector
  fi
} >"$etc/jvm.config"

# TLS for clients, the users and their passwords, and the secret the nodes share, all
# from the stack's secrets: a replacement node gets exactly what the others have.
# Files holding any of them belong to root and are readable by the engine's group
# only.
logger -t presto-ha "credentials revision $CREDENTIALS_REVISION" || true
if [ "$SECURITY" = tls ]; then
  export ROLE ENGINE HTTPS_PORT RECORD_NAME SHARED_SECRET_ARN TLS_SECRET_ARN USERS_SECRET_ARNS \
    TLS_CERTIFICATE_FIELD TLS_KEY_FIELD
  problem=$(python3 - "$etc" "$user" 2>&1 <<'PY'
import hashlib, json, os, pwd, secrets, subprocess, sys

etc, user = sys.argv[1:]
env = os.environ
owner = pwd.getpwnam(user)


def stop(reason):
    print(reason, file=sys.stderr)
    sys.exit(1)


def read(arn):
    got = subprocess.run(
        ["aws", "secretsmanager", "get-secret-value", "--secret-id", arn,
         "--query", "SecretString", "--output", "text"],
        capture_output=True, text=True)
    if got.returncode != 0:
        stop(f"cannot read secret {arn}: {got.stderr.strip()}")
    return got.stdout.rstrip("\n")


def read_json(arn, what):
    try:
        value = json.loads(read(arn))
    except ValueError:
        stop(f"secret {arn} is not JSON: it must hold {what}")
    if not isinstance(value, dict):
        stop(f"secret {arn} must hold {what}")
    return value


def write(path, text, mode=0o640):
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chown(path + ".new", 0, owner.pw_gid)
    os.chmod(path + ".new", mode)
    os.replace(path + ".new", path)


shared = read(env["SHARED_SECRET_ARN"])
if len(shared) < 32:
    stop(f"secret {env['SHARED_SECRET_ARN']} is shorter than 32 characters")
lines = []
if env["ENGINE"] == "presto":
    lines.append("internal-communication.jwt.enabled=true")
lines.append(f"internal-communication.shared-secret={shared}")

if env["ROLE"] == "coordinator":
    arn, cert_field, key_field = env["TLS_SECRET_ARN"], env["TLS_CERTIFICATE_FIELD"], env["TLS_KEY_FIELD"]
    tls = read_json(arn, f"{cert_field} and {key_field}")
    if not all(isinstance(tls.get(k), str) and tls[k] for k in (cert_field, key_field)):
        stop(f"secret {arn} must hold {cert_field} and {key_field} as PEM texts")
    tls_dir = os.path.join(etc, "tls")
    os.makedirs(tls_dir, mode=0o750, exist_ok=True)
    os.chown(tls_dir, 0, owner.pw_gid)
    chain, key = os.path.join(tls_dir, "chain.pem"), os.path.join(tls_dir, "key.pem")
    write(chain, tls[cert_field], 0o644)
    write(key, tls[key_field], 0o600)
    record = env["RECORD_NAME"]
    checked = subprocess.run(["openssl", "x509", "-noout", "-checkhost", record, "-in", chain],
                             capture_output=True, text=True)
    if checked.returncode != 0 or "does match" not in checked.stdout:
        stop(f"the certificate in secret {arn} is not valid for {record}: "
             + (checked.stdout + checked.stderr).strip())
    password = secrets.token_hex(24)
    keystore = os.path.join(tls_dir, "keystore.p12")
    packed = subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", chain, "-inkey", key, "-out", keystore,
         "-name", "presto", "-passout", "env:KEYSTORE_PASSWORD"],
        capture_output=True, text=True, env={**env, "KEYSTORE_PASSWORD": password})
    os.remove(key)
    if packed.returncode != 0:
        stop(f"the key in secret {arn} does not belong to its certificate: {packed.stderr.strip()}")
    os.chown(keystore, 0, owner.pw_gid)
    os.chmod(keystore, 0o640)
    lines += [
        "http-server.https.enabled=true",
        f"http-server.https.port={env['HTTPS_PORT']}",
        f"http-server.https.keystore.path={keystore}",
        f"http-server.https.keystore.key={password}",
        "http-server.authentication.type=PASSWORD",
    ]

    users = {}
    for arn in env["USERS_SECRET_ARNS"].split():
        for name, password in read_json(arn, "an object of user names and passwords").items():
            if not name or ":" in name or not isinstance(password, str) or not password:
                stop(f"secret {arn}: user {name!r} needs a name without ':' and a non-empty password")
            if name in users:
                stop(f"secret {arn}: user {name!r} is already defined")
            users[name] = password
    entries = []
    for name, password in users.items():
        salt = os.urandom(16)
        # Both engines' file authenticators check PBKDF2 with HMAC-SHA1.
        digest = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, 100_000)
        entries.append(f"{name}:100000:{salt.hex()}:{digest.hex()}\n")
    password_file = os.path.join(etc, "password.db")
    write(password_file, "".join(entries))
    write(os.path.join(etc, "password-authenticator.properties"),
          f"password-authenticator.name=file\nfile.password-file={password_file}\n")

with open(os.path.join(etc, "config.properties"), "a") as config:
    config.write("".join(line + "\n" for line in lines))
PY
  ) || fail "$problem"
fi

echo connector.name=tpch >"$etc/catalog/tpch.properties"

# The drain's graceful shutdown (PUT /v1/info/state) needs a user that may write
# system information: Trino's default access control allows none, so a Trino worker
# names the drain's user. Workers plan no queries: nothing else is checked here.
if [ "$ROLE:$ENGINE" = worker:trino ]; then
  cat >"$etc/access-control.properties" <<EOF
access-control.name=file
security.config-file=$etc/access-rules.json
EOF
  echo '{"system_information": [{"user": "presto-ha", "allow": ["read", "write"]}]}' \
    >"$etc/access-rules.json"
fi

# The hive and iceberg catalogs on the stack's metastore.
catalogs() {
  local hive iceberg
  case "$ENGINE:$METASTORE_TYPE" in
    *:None) return ;;
    presto:"AWS Glue Data Catalog")
      hive="connector.name=hive-hadoop2
hive.metastore=glue
hive.metastore.glue.region=$REGION"
      iceberg="connector.name=iceberg
iceberg.catalog.type=hive
hive.metastore=glue
hive.metastore.glue.region=$REGION"
      ;;
    trino:"AWS Glue Data Catalog")
      hive="connector.name=hive
hive.metastore=glue
hive.metastore.glue.region=$REGION
fs.native-s3.enabled=true
s3.region=$REGION"
      iceberg="connector.name=iceberg
iceberg.catalog.type=glue
hive.metastore.glue.region=$REGION
fs.native-s3.enabled=true
s3.region=$REGION"
      ;;
    *:"External Hive Metastore Service")
      [ -n "$METASTORE_HOST" ] || fail "MetastoreType '$METASTORE_TYPE' needs ExternalMetastoreHost"
      local uri="thrift://$METASTORE_HOST:$METASTORE_PORT"
      if [ "$ENGINE" = trino ]; then
        hive="connector.name=hive
hive.metastore.uri=$uri
fs.native-s3.enabled=true
s3.region=$REGION"
        iceberg="connector.name=iceberg
iceberg.catalog.type=hive_metastore
hive.metastore.uri=$uri
fs.native-s3.enabled=true
s3.region=$REGION"
      else
        hive="connector.name=hive-hadoop2
hive.metastore.uri=$uri"
        iceberg="connector.name=iceberg
iceberg.catalog.type=hive
hive.metastore.uri=$uri"
      fi
      ;;
    *) fail "unknown MetastoreType '$METASTORE_TYPE'" ;;
  esac
  printf '%s\n' "$hive" >"$etc/catalog/hive.properties"
  printf '%s\n' "$iceberg" >"$etc/catalog/iceberg.properties"
}
catalogs

# Trino's fault-tolerant execution: the coordinator's retry policy, and on every node
# the exchange spooled to the stack's bucket (the template refuses it for prestodb).
# The spool is written uncompressed: Trino 476 on Java 25 cannot read back its own
# LZ4 or ZSTD spool (IndexOutOfBoundsException in the page deserializer).
if [ "$RETRY_POLICY" != None ]; then
  [ "$ENGINE" = trino ] || fail "FaultTolerantExecution $RETRY_POLICY needs Engine trino"
  if [ "$ROLE" = coordinator ]; then
    printf '%s\n' "retry-policy=${RETRY_POLICY^^}" exchange.compression-codec=NONE \
      >>"$etc/config.properties"
  fi
  cat >"$etc/exchange-manager.properties" <<EOF
exchange-manager.name=filesystem
exchange.base-directories=s3://$EXCHANGE_BUCKET
exchange.s3.region=$REGION
EOF
fi

# The user's etc/ tree from S3, merged into ours: each key of a .properties file
# (config.properties, a catalog) and each jvm.config option added or overriding ours,
# other files added or replaced. Values written ${secret:ID} or ${secret:ID#KEY} are
# read from Secrets Manager; a file that held one is readable by the engine's user
# only.
if [ -n "$EXTRA_CONFIG_URI" ]; then
  aws s3 cp --only-show-errors "$EXTRA_CONFIG_URI" "$work/extra.zip" \
    || fail "cannot read $EXTRA_CONFIG_URI"
  python3 - "$work/extra.zip" "$etc" "$user" "$EXTRA_CONFIG_URI" <<'PY' || fail "cannot apply $EXTRA_CONFIG_URI"
import json, os, pwd, re, shutil, subprocess, sys, tempfile, zipfile

archive, etc, user, uri = sys.argv[1:]
SECRET = re.compile(r"\$\{secret:([A-Za-z0-9/_+=.@:-]+?)(?:#([^}]+))?\}")


def stop(reason):
    print(f"{uri}: {reason}", file=sys.stderr)
    sys.exit(1)


def secret(match):
    secret_id, key = match.group(1), match.group(2)
    read = subprocess.run(
        ["aws", "secretsmanager", "get-secret-value", "--secret-id", secret_id,
         "--query", "SecretString", "--output", "text"],
        capture_output=True, text=True)
    if read.returncode != 0:
        stop(f"cannot read secret {secret_id}: {read.stderr.strip()}")
    value = read.stdout.rstrip("\n")
    if key is None:
        return value
    try:
        return str(json.loads(value)[key])
    except (ValueError, KeyError, TypeError):
        stop(f"secret {secret_id} has no JSON key {key}")


def jvm_key(line):
    for prefix in ("-Xmx", "-Xms", "-Xss"):
        if line.startswith(prefix):
            return prefix
    if line.startswith("-XX:"):
        return re.sub(r"^-XX:[+-]?", "", line).split("=")[0]
    return line.split("=")[0]


def merge(target, lines, key):
    ours = open(target).read().splitlines() if os.path.exists(target) else []
    theirs = [l for l in lines if l.strip() and not l.lstrip().startswith("#")]
    replaced = {key(l) for l in theirs}
    merged = [l for l in ours if key(l) not in replaced] + theirs
    return "\n".join(merged) + "\n"


staging = tempfile.mkdtemp()
try:
    with zipfile.ZipFile(archive) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        if not names or not all(n.startswith("etc/") for n in names):
            stop("the zip must hold an etc/ folder and nothing beside it")
        z.extractall(staging)
except zipfile.BadZipFile:
    stop("not a zip file")

owner = pwd.getpwnam(user)
for name in names:
    relative = os.path.normpath(name[len("etc/"):])
    if relative.startswith(".."):
        stop(f"{name} leaves etc/")
    text = open(os.path.join(staging, name)).read()
    resolved, secrets = SECRET.subn(secret, text)
    target = os.path.join(etc, relative)
    if relative.endswith(".properties"):
        resolved = merge(target, resolved.splitlines(), lambda l: l.split("=")[0].strip())
    elif relative == "jvm.config":
        resolved = merge(target, resolved.splitlines(), jvm_key)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    private = secrets > 0 or relative == "config.properties"
    fd = os.open(target + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(resolved)
    os.chown(target + ".new", 0, owner.pw_gid if private else 0)
    os.chmod(target + ".new", 0o640 if private else 0o644)
    os.replace(target + ".new", target)
shutil.rmtree(staging)
PY
fi

if [ -n "$BOOTSTRAP_SCRIPT_URI" ]; then
  aws s3 cp --only-show-errors "$BOOTSTRAP_SCRIPT_URI" "$work/bootstrap" \
    || fail "cannot read $BOOTSTRAP_SCRIPT_URI"
  chmod 0700 "$work/bootstrap"
  "$work/bootstrap" "$ROLE" || fail "$BOOTSTRAP_SCRIPT_URI $ROLE exited with $?"
fi

# The engine writes only its data directory (its logs are there too); its install
# tree and configuration stay root's, so a compromised engine cannot rewrite them.
chown -R "$user:$user" "/var/$ENGINE"
rm -rf "$work"

cat >"/etc/systemd/system/$service.service" <<EOF
[Unit]
Description=$ENGINE $ROLE
Wants=network-online.target
After=network-online.target

[Service]
User=$user
Group=$user
ExecStart=$launcher run
Restart=on-failure
RestartSec=5
LimitNOFILE=131072
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/var/$ENGINE
PrivateTmp=yes
ProtectHome=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
EOF
# A worker drains when its group removes it (scale-in, rolling update, deletion): a
# service watches the instance's lifecycle state, and on Terminated asks the engine
# to shut down gracefully (no new tasks; it exits once its tasks are done), waits for
# the engine to be gone or DRAIN_SECONDS, stops the engine's unit, then completes the
# group's hook so that the termination goes on. A coordinator never drains: its
# replacement is the watcher's job.
units=("$service.service")
if [ -n "$DRAIN_HOOK" ]; then
  mkdir -p /etc/presto-ha
  cat >/etc/presto-ha/drain.env <<EOF
ENGINE=$ENGINE
SERVICE=$service.service
HTTP_PORT=$HTTP_PORT
DRAIN_HOOK=$DRAIN_HOOK
DRAIN_SECONDS=$DRAIN_SECONDS
REGION=$REGION
EOF
  cat >/usr/local/sbin/presto-ha-drain <<'DRAIN'
set -u
. /etc/presto-ha/drain.env
. /usr/local/lib/presto-ha/lifecycle.sh
until [ "$(metadata autoscaling/target-lifecycle-state)" = Terminated ]; do
  sleep 5
done
instance=$(metadata instance-id)
user=X-Presto-User
[ "$ENGINE" = trino ] && user=X-Trino-User
logger -t presto-ha "draining $instance for up to $DRAIN_SECONDS s"
curl -fsS -X PUT -H 'Content-Type: application/json' -H "$user: presto-ha" \
  -d '"SHUTTING_DOWN"' "http://127.0.0.1:$HTTP_PORT/v1/info/state" ||
  logger -t presto-ha "the engine refused a graceful shutdown; waiting out the drain time"
waited=0
while [ "$waited" -lt "$DRAIN_SECONDS" ] && curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/v1/info"; do
  sleep 5
  waited=$((waited + 5))
done
# The engine is gone before the termination goes on: stopping its unit waits for the
# JVM, which may still be exiting after it stopped answering, and keeps the unit from
# starting it again.
systemctl stop "$SERVICE" || logger -t presto-ha "could not stop $SERVICE"
complete_hook "$DRAIN_HOOK" CONTINUE || true
DRAIN
  chmod 0755 /usr/local/sbin/presto-ha-drain
  cat >/etc/systemd/system/presto-ha-drain.service <<EOF
[Unit]
Description=Drain $ENGINE before the Auto Scaling group terminates this worker
After=$service.service

[Service]
ExecStart=/bin/bash /usr/local/sbin/presto-ha-drain
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  units+=(presto-ha-drain.service)
fi
if [ -n "$LAUNCH_HOOK" ]; then
  cat >/etc/systemd/system/presto-ha-ready.service <<EOF
[Unit]
Description=Tell the Auto Scaling group this coordinator serves, when it starts from the warm pool
After=$service.service

[Service]
Type=oneshot
ExecStart=/bin/bash $ready

[Install]
WantedBy=multi-user.target
EOF
fi
systemctl daemon-reload
systemctl enable --now "${units[@]}"
# Not started now: this boot runs it below; every later boot runs it itself.
if [ -n "$LAUNCH_HOOK" ]; then
  systemctl enable presto-ha-ready.service
fi

if ! why=$(bash "$ready" 2>&1 >/dev/null); then
  fail "$(tail -n 1 <<<"$why")"
fi
# An instance prepared for the warm pool is none of the members CloudFormation waits
# for; the group stops it now.
target=$(metadata autoscaling/target-lifecycle-state || true)
case "$target" in
  Warmed:*) logger -t presto-ha "prepared for the warm pool ($target)" ;;
  *) signal 0 "$ENGINE $ENGINE_VERSION serves on $instance_id" ;;
esac
