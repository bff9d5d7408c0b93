# The node's lifecycle helpers and its ready script (presto-ha-ready): waiting for the
# engine to serve, then completing the group's launch hook.
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
