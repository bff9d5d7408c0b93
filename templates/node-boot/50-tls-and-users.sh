# TLS, the users and their passwords, and the secret the nodes share.
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

