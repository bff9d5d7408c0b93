# A worker's drain: the service that shuts the engine down gracefully when its group
# removes it.
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
