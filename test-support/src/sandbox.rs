//! A sandbox that runs a node's user data for real, as root, without touching the host
//! or any network.
//!
//! The script runs in a private mount and network namespace (`unshare`), chrooted into
//! an overlay whose lower layer is the host's root: it sees a whole system and may
//! write anywhere, and every write lands in a folder the test reads afterwards. The
//! network namespace is empty, so nothing can leave the machine. Stand-ins come first
//! on `PATH` for what would reach AWS, the package repositories or Maven Central
//! (`dnf`, `curl`, `aws`, `cfn-signal`) and for what would act on the host
//! (`systemctl`, `logger`); each records its arguments. The real `useradd`, `tar`,
//! `sha512sum`, `chown` and `python3` do the rest.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the sandbox's own files live, seen from inside.
const HOME: &str = "sandbox";

/// What the stand-ins share: each records its name and arguments, one call a line,
/// the arguments separated by tabs.
const RECORD: &str = r#"#!/bin/bash
{ printf '%s' "${0##*/}"; printf '\t%s' "$@"; printf '\n'; } >>/sandbox/calls.log
"#;

/// `curl`: the instance metadata service, the engine's `/v1/info` (ready), and
/// HTTPS downloads served from `/sandbox/web/<host>/<path>`.
const CURL: &str = r#"
out= url=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift 2 ;;
    -H | -X | --retry | --proto | --proto-redir | --resolve | --cacert) shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
emit() { if [ -n "$out" ]; then cat >"$out"; else cat; fi; }
case "$url" in
  http://169.254.169.254/latest/api/token) printf 'imds-token' | emit ;;
  http://169.254.169.254/latest/meta-data/instance-id) printf 'i-0123456789abcdef0' | emit ;;
  http://169.254.169.254/latest/meta-data/autoscaling/target-lifecycle-state)
    cat /sandbox/lifecycle-state 2>/dev/null || printf 'InService' ;;
  http://127.0.0.1:*/v1/info/state)
    [ ! -f /sandbox/refuse-shutdown ] || { echo "curl: (22) The requested URL returned error: 500" >&2; exit 22; } ;;
  http://127.0.0.1:*/v1/info | https://*:*/v1/info)
    # /sandbox/engine-answers, when present, counts down the answers left before
    # the engine is gone.
    if [ -f /sandbox/engine-answers ]; then
      left=$(cat /sandbox/engine-answers)
      [ "$left" -gt 0 ] || { echo "curl: (7) Failed to connect: Connection refused" >&2; exit 7; }
      echo $((left - 1)) >/sandbox/engine-answers
    fi
    printf '{"starting":false}' | emit ;;
  https://*)
    file=/sandbox/web/${url#https://}
    [ -f "$file" ] || { echo "curl: (22) The requested URL returned error: 404" >&2; exit 22; }
    emit <"$file" ;;
  *) echo "curl: (7) the sandbox has no route to $url" >&2; exit 7 ;;
esac
"#;

/// `aws`: `s3 cp` from `/sandbox/s3/<bucket>/<key>` and `secretsmanager
/// get-secret-value` from `/sandbox/secrets/<id with / and : as _>`, failing as the
/// CLI does when the object or secret is missing.
const AWS: &str = r#"
case "$1 $2" in
  "s3 cp")
    shift 2
    args=()
    for a in "$@"; do case "$a" in --*) ;; *) args+=("$a") ;; esac; done
    file=/sandbox/s3/${args[0]#s3://}
    [ -f "$file" ] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation: Not Found" >&2; exit 1; }
    cp "$file" "${args[1]}" ;;
  "secretsmanager get-secret-value")
    while [ $# -gt 0 ]; do [ "$1" = --secret-id ] && id=$2; shift; done
    file=/sandbox/secrets/$(printf '%s' "$id" | tr '/:' '__')
    [ -f "$file" ] || { echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret." >&2; exit 254; }
    cat "$file"; echo ;;
  "autoscaling describe-auto-scaling-instances") echo sandbox-group ;;
  "autoscaling complete-lifecycle-action") ;;
  *) echo "aws: the sandbox does not play '$*'" >&2; exit 2 ;;
esac
"#;

/// How a boot ended.
#[derive(Debug)]
pub struct Boot {
    /// Whether the script exited 0.
    pub succeeded: bool,
    /// What it wrote to stderr.
    pub stderr: String,
}

/// One sandboxed node, to be booted once.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// An empty node with the stand-ins in place.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let sandbox = Self { dir };
        for folder in ["upper", "work", "merged"] {
            fs::create_dir(sandbox.dir.path().join(folder)).expect("sandbox folder");
        }
        let bin = sandbox.inside("bin");
        fs::create_dir_all(&bin).expect("stand-in folder");
        let quiet = "";
        for (name, body) in [
            ("curl", CURL),
            ("aws", AWS),
            ("dnf", quiet),
            ("systemctl", quiet),
            ("cfn-signal", quiet),
            ("logger", quiet),
            ("sleep", quiet),
        ] {
            let path = bin.join(name);
            fs::write(&path, format!("{RECORD}{body}")).expect("stand-in");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        sandbox
    }

    /// `relative` under the sandbox's own folder, as the host sees it.
    fn inside(&self, relative: &str) -> PathBuf {
        self.upper().join(HOME).join(relative)
    }

    fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }

    fn put(&self, path: PathBuf, bytes: &[u8]) {
        fs::create_dir_all(path.parent().expect("a parent")).expect("folder");
        fs::write(path, bytes).expect("sandbox file");
    }

    /// Serves `bytes` at the HTTPS `url`.
    pub fn publish(&self, url: &str, bytes: &[u8]) {
        let path = url.strip_prefix("https://").expect("an https URL");
        self.put(self.inside(&format!("web/{path}")), bytes);
    }

    /// Stores `bytes` as the S3 object `uri`.
    pub fn put_object(&self, uri: &str, bytes: &[u8]) {
        let path = uri.strip_prefix("s3://").expect("an s3 URI");
        self.put(self.inside(&format!("s3/{path}")), bytes);
    }

    /// Stores `value` as the secret `id` (a name or an ARN).
    pub fn put_secret(&self, id: &str, value: &str) {
        let file = id.replace(['/', ':'], "_");
        self.put(self.inside(&format!("secrets/{file}")), value.as_bytes());
    }

    /// Runs `user_data` as root inside the sandbox, as cloud-init would.
    pub fn boot(&self, user_data: &str) -> Boot {
        self.put(self.inside("user-data"), user_data.as_bytes());
        self.run(&format!("/{HOME}/user-data"))
    }

    /// Sets a sandbox file the stand-ins read (`lifecycle-state`, `engine-answers`,
    /// `refuse-shutdown`).
    pub fn set(&self, name: &str, text: &str) {
        self.put(self.inside(name), text.as_bytes());
    }

    /// Runs the bash script `path` (as the node sees it) as root in the sandbox,
    /// with what an earlier boot wrote in place.
    pub fn run(&self, path: &str) -> Boot {
        let root = self.dir.path();
        let mount = format!(
            "set -e
mount -t overlay overlay -o lowerdir=/,upperdir={upper},workdir={work} {merged}
mount --bind /proc {merged}/proc
mount --bind /dev {merged}/dev
exec chroot {merged} /usr/bin/env -i PATH=/{HOME}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/bash {path}",
            upper = root.join("upper").display(),
            work = root.join("work").display(),
            merged = root.join("merged").display(),
        );
        let output = Command::new("unshare")
            .args(["--mount", "--net", "--fork", "--", "/bin/sh", "-c", &mount])
            .output()
            .expect("unshare runs");
        Boot {
            succeeded: output.status.success(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Every call a stand-in saw, in order: the program's name, then its arguments.
    pub fn calls(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.inside("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| line.split('\t').map(str::to_owned).collect())
            .collect()
    }

    /// The calls of one program, each as its arguments joined by spaces.
    pub fn calls_of(&self, program: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|call| call[0] == program)
            .map(|call| call[1..].join(" "))
            .collect()
    }

    /// Where the boot wrote `path` (absolute, as the node sees it), if it did.
    pub fn written(&self, path: &str) -> Option<PathBuf> {
        let file = self.upper().join(path.trim_start_matches('/'));
        file.symlink_metadata().is_ok().then_some(file)
    }

    /// The text the boot wrote to `path`, if it wrote it.
    pub fn file(&self, path: &str) -> Option<String> {
        self.written(path)
            .map(|file| fs::read_to_string(file).expect("a text file"))
    }

    /// Who may do what with `path`, which the boot wrote: `user:group mode`, as in
    /// `root:presto 0640`, by the node's own `/etc/passwd` and `/etc/group`.
    pub fn access(&self, path: &str) -> String {
        let file = self
            .written(path)
            .unwrap_or_else(|| panic!("{path} not written"));
        self.access_of(&file)
    }

    /// [`Sandbox::access`] of everything the boot wrote under `dir`, `dir` itself
    /// included, by path as the node sees it.
    pub fn tree_access(&self, dir: &str) -> Vec<(String, String)> {
        let top = self
            .written(dir)
            .unwrap_or_else(|| panic!("{dir} not written"));
        let mut found = Vec::new();
        let mut pending = vec![top];
        while let Some(path) = pending.pop() {
            let metadata = path.symlink_metadata().expect("metadata");
            if metadata.is_dir() {
                pending.extend(
                    fs::read_dir(&path)
                        .expect("read dir")
                        .map(|e| e.expect("entry").path()),
                );
            }
            let shown = format!(
                "/{}",
                path.strip_prefix(self.upper())
                    .expect("under upper")
                    .display()
            );
            found.push((shown, self.access_of(&path)));
        }
        found.sort();
        found
    }

    fn access_of(&self, file: &Path) -> String {
        let metadata = file.symlink_metadata().expect("metadata");
        let name = |table: &str, id: u32| {
            let text = self
                .file(table)
                .unwrap_or_else(|| fs::read_to_string(table).expect("host table"));
            text.lines()
                .map(|line| line.split(':').collect::<Vec<_>>())
                .find(|fields| fields.get(2) == Some(&id.to_string().as_str()))
                .map(|fields| fields[0].to_owned())
                .unwrap_or_else(|| id.to_string())
        };
        format!(
            "{}:{} {:04o}",
            name("/etc/passwd", metadata.uid()),
            name("/etc/group", metadata.gid()),
            metadata.permissions().mode() & 0o7777
        )
    }

    /// Whether the boot wrote anything under `dir` (absolute, as the node sees it).
    pub fn wrote_under(&self, dir: &str) -> bool {
        self.written(dir).is_some()
    }
}

/// Whether this machine can build the sandbox: `unshare --mount --net` must work,
/// which needs root.
pub fn available() -> bool {
    Command::new("unshare")
        .args(["--mount", "--net", "--fork", "--", "/bin/true"])
        .output()
        .is_ok_and(|o| o.status.success())
}
