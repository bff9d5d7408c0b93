# The user's extra configuration (an etc/ tree from S3, merged into ours) and
# bootstrap script.
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

