# The catalogs (tpch, and hive and iceberg on the stack's metastore), the drain's user
# on a Trino worker, and the exchange of fault-tolerant execution.
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

