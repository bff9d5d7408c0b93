# Starts the engine, waits for it to serve and tells CloudFormation.
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
