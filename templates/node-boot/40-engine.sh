# The engine's own configuration: node.properties, config.properties (per engine and
# role) and jvm.config.
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

