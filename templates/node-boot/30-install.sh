# The engine's Java and the engine itself: downloaded over HTTPS, verified, unpacked.

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

