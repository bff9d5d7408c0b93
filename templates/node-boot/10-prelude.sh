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

