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

use crate::testnet::Host;

/// Where the sandbox's own files live, seen from inside.
const HOME: &str = "sandbox";

/// What the stand-ins share: each records its name and arguments, one call a line,
/// the arguments separated by tabs.
const RECORD: &str = r#"#!/bin/bash
{ printf '%s' "${0##*/}"; printf '\t%s' "$@"; printf '\n'; } >>/sandbox/calls.log
"#;

/// `curl`: the instance metadata service (the instance id from
/// `/sandbox/instance-id`, else `i-0123456789abcdef0`), HTTPS downloads served from
/// `/sandbox/web/<host>/<path>` (hard-linked to the output file when there is one),
/// and the engine: on a node with a real engine
/// (`/sandbox/real-engine`) the real curl asks it, else the stand-in answers its
/// `/v1/info` (ready) and `/v1/info/state` (drain).
const CURL: &str = r#"
main() {
out= url= format= args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift 2 ;;
    -w) format=$2; shift 2 ;;
    -H | -X | -d | --retry | --proto | --proto-redir | --resolve | --cacert) shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
emit() { if [ -n "$out" ]; then cat >"$out"; else cat; fi; }
case "$url" in
  http://169.254.169.254/latest/api/token) printf 'imds-token' | emit ;;
  http://169.254.169.254/latest/meta-data/instance-id)
    cat /sandbox/instance-id 2>/dev/null || printf 'i-0123456789abcdef0' ;;
  http://169.254.169.254/latest/meta-data/autoscaling/target-lifecycle-state)
    cat /sandbox/lifecycle-state 2>/dev/null || printf 'InService' ;;
  https://repo1.maven.org/*)
    file=/sandbox/web/${url#https://}
    [ -f "$file" ] || { echo "curl: (22) The requested URL returned error: 404" >&2; exit 22; }
    # The same bytes without a copy of gigabytes: a hard link when it can be.
    { [ -n "$out" ] && [ ! -e "$out" ] && ln "$file" "$out" 2>/dev/null; } || emit <"$file" ;;
  *)
    [ ! -f /sandbox/real-engine ] || exec /usr/bin/curl "${args[@]}"
    stand_in "$url" ;;
esac
}
stand_in() {
  local url=$1
  case "$url" in
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
    printf '{"starting":false}' | emit
    [ -z "$format" ] || printf 200 ;;
  *) echo "curl: (7) the sandbox has no route to $url" >&2; exit 7 ;;
  esac
}
main "$@"
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
  "autoscaling set-instance-health") ;;
  *) echo "aws: the sandbox does not play '$*'" >&2; exit 2 ;;
esac
"#;

/// `systemctl` on a node with a real engine: `enable --now` and `start` start each
/// unit's `ExecStart` as its `User` (with the boot's `PATH`, so the drain still meets
/// the stand-ins for the metadata service and AWS), in the background, its output in
/// `/sandbox/units/<unit>.log` (the journal); `Restart=on-failure` restarts it after
/// `RestartSec`, counted as `show -p NRestarts --value` reports; `stop` ends it as
/// systemd does. The rest is recorded only.
const SYSTEMCTL: &str = r#"
start() {
  local unit=/etc/systemd/system/$1 command user run=() restart pause
  command=$(sed -n 's/^ExecStart=//p' "$unit")
  user=$(sed -n 's/^User=//p' "$unit")
  restart=$(sed -n 's/^Restart=//p' "$unit")
  pause=$(sed -n 's/^RestartSec=//p' "$unit")
  [ -z "$user" ] || run=(setpriv --reuid="$user" --regid="$user" --init-groups)
  mkdir -p /sandbox/units
  echo 0 >"/sandbox/units/$1.restarts"
  rm -f "/sandbox/units/$1.stopped"
  (
    echo "$BASHPID" >"/sandbox/units/$1.pid"
    while ! "${run[@]}" /bin/sh -c "exec $command" && [ "$restart" = on-failure ] &&
      [ ! -e "/sandbox/units/$1.stopped" ]; do
      echo $(($(cat "/sandbox/units/$1.restarts") + 1)) >"/sandbox/units/$1.restarts"
      /bin/sleep "${pause:-1}"
      [ ! -e "/sandbox/units/$1.stopped" ] || break
    done
    rm -f "/sandbox/units/$1.pid"
  ) </dev/null >>"/sandbox/units/$1.log" 2>&1 &
}
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}
# As systemd stops a unit: no restart, SIGTERM to every process it started (its
# control group), and back once they have all exited (SIGKILL after 90 s).
stop() {
  local supervisor pids
  touch "/sandbox/units/$1.stopped"
  supervisor=$(cat "/sandbox/units/$1.pid" 2>/dev/null) || return 0
  pids=$(descendants "$supervisor")
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 900); do
    # shellcheck disable=SC2086
    kill -0 $pids 2>/dev/null || return 0
    /bin/sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
}
case "$1" in
  enable) [ "${2:-}" != --now ] || { shift 2; for u in "$@"; do start "$u"; done; } ;;
  start) shift; for u in "$@"; do start "$u"; done ;;
  stop) shift; for u in "$@"; do stop "$u"; done ;;
  show) cat "/sandbox/units/${!#}.restarts" 2>/dev/null || echo 0 ;;
esac
"#;

/// `journalctl -u UNIT` on a node with a real engine: what the unit printed.
const JOURNALCTL: &str = r#"
while [ $# -gt 0 ]; do [ "$1" = -u ] && unit=$2; shift; done
cat "/sandbox/units/$unit.log" 2>/dev/null
"#;

/// `dnf` on a node with a real engine: a Corretto package installs a copy of the JDK
/// that stands in for it (`/sandbox/jdk/<package>`) under `/usr/lib/jvm`, with
/// `/usr/bin/java`; a package with no stand-in fails as dnf does.
const DNF: &str = r#"
for package in "$@"; do
  case "$package" in
    java-*)
      [ -e "/sandbox/jdk/$package" ] || { echo "Error: Unable to find a match: $package" >&2; exit 1; }
      mkdir -p "/usr/lib/jvm/$package"
      # Hard links where they can be (a copy writes the JDK's 300 MB again for every
      # node), else a copy, made readable as the package's files are.
      cp -al "/sandbox/jdk/$package/." "/usr/lib/jvm/$package/" 2>/dev/null || {
        rm -rf "/usr/lib/jvm/$package" && mkdir -p "/usr/lib/jvm/$package"
        cp -a "/sandbox/jdk/$package/." "/usr/lib/jvm/$package/"
        chmod -R a+rX "/usr/lib/jvm/$package"
      }
      ln -sfn "/usr/lib/jvm/$package/bin/java" /usr/bin/java ;;
  esac
done
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
    /// The network namespace of a node with a real engine; `None`: an empty network
    /// of its own.
    netns: Option<String>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// An empty node with the stand-ins in place, its engine a stand-in too.
    pub fn new() -> Self {
        let quiet = "";
        Self::build(
            None,
            &[
                ("curl", CURL),
                ("aws", AWS),
                ("dnf", quiet),
                ("systemctl", quiet),
                ("cfn-signal", quiet),
                ("logger", quiet),
                ("sleep", quiet),
            ],
        )
    }

    /// A node of the test network at `host` whose engine is real: the boot's
    /// downloads, its AWS calls and the instance metadata are stand-ins as in
    /// [`Sandbox::new`], but `dnf` installs a real JDK ([`Sandbox::provide_jdk`]),
    /// `systemctl` starts the units the boot wrote, time passes, the engine is asked
    /// with the real curl, and the node resolves names through the network's DNS
    /// server. The instance has `memory_mib` of memory, as `/proc/meminfo` says.
    pub fn on_host(host: &Host, instance_id: &str, memory_mib: u64) -> Self {
        let quiet = "";
        let sandbox = Self::build(
            Some(host.netns.clone()),
            &[
                ("curl", CURL),
                ("aws", AWS),
                ("dnf", DNF),
                ("systemctl", SYSTEMCTL),
                ("journalctl", JOURNALCTL),
                ("cfn-signal", quiet),
                ("logger", quiet),
            ],
        );
        sandbox.set("real-engine", "");
        sandbox.set("instance-id", instance_id);
        // There from the start: the test rewrites it in place while the node runs,
        // which its overlay shows only for a file it has already seen.
        sandbox.set("lifecycle-state", "InService");
        let host_meminfo = fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
        let meminfo: String = host_meminfo
            .lines()
            .map(|line| match line.split_once(':') {
                Some(("MemTotal", _)) => format!("MemTotal:       {} kB\n", memory_mib * 1024),
                _ => format!("{line}\n"),
            })
            .collect();
        sandbox.set("meminfo", &meminfo);
        sandbox.put(
            sandbox.upper().join("etc/resolv.conf"),
            format!("nameserver {}\n", host.resolver).as_bytes(),
        );
        sandbox
    }

    fn build(netns: Option<String>, stand_ins: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let sandbox = Self { dir, netns };
        for folder in ["upper", "work", "merged"] {
            fs::create_dir(sandbox.dir.path().join(folder)).expect("sandbox folder");
        }
        let bin = sandbox.inside("bin");
        fs::create_dir_all(&bin).expect("stand-in folder");
        for (name, body) in stand_ins {
            let path = bin.join(name);
            fs::write(&path, format!("{RECORD}{body}")).expect("stand-in");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        sandbox
    }

    /// Makes `home` (a Java home on this machine) what `dnf install package` installs:
    /// a copy of hard links in the sandbox (a link to `home` would not resolve inside
    /// when `home` is under `/tmp`, which the node sees as its own), a copy where the
    /// two are on different file systems.
    pub fn provide_jdk(&self, package: &str, home: &Path) {
        let copy = self.inside(&format!("jdk/{package}"));
        fs::create_dir_all(copy.parent().expect("a parent")).expect("jdk folder");
        let copied = |flags: &str| {
            Command::new("cp")
                .arg(flags)
                .arg(home)
                .arg(&copy)
                .status()
                .is_ok_and(|s| s.success())
        };
        // A hard-linked copy stopped halfway (another file system) is removed first.
        let done = copied("-al") || {
            let _ = fs::remove_dir_all(&copy);
            copied("-a")
        };
        assert!(done, "cannot copy {} into the sandbox", home.display());
    }

    /// Serves the file `path` at the HTTPS `url` (a hard link where it can be: the
    /// engines' tarballs are large).
    pub fn publish_file(&self, url: &str, path: &Path) {
        let target = self.inside(&format!(
            "web/{}",
            url.strip_prefix("https://").expect("an https URL")
        ));
        fs::create_dir_all(target.parent().expect("a parent")).expect("folder");
        if fs::hard_link(path, &target).is_err() {
            fs::copy(path, &target).expect("published copy");
        }
    }

    /// What the unit `unit` printed (a node with a real engine).
    pub fn unit_log(&self, unit: &str) -> String {
        fs::read_to_string(self.inside(&format!("units/{unit}.log"))).unwrap_or_default()
    }

    /// The JVMs running on this node's host: the processes whose executable is a
    /// `java` (an engine may name its process otherwise: Trino's is
    /// `trino-server-coordinator`).
    pub fn jvms(&self) -> Vec<u32> {
        let netns = self.netns.as_deref().expect("a node with a real engine");
        let output = Command::new("ip")
            .args(["netns", "pids", netns])
            .output()
            .expect("ip runs");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .filter(|pid| {
                fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe.file_name().is_some_and(|name| name == "java"))
            })
            .collect()
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
    /// `refuse-shutdown`). On a running node only a file that exists already may be
    /// set (its content is rewritten in place, which the node's overlay shows).
    pub fn set(&self, name: &str, text: &str) {
        self.put(self.inside(name), text.as_bytes());
    }

    /// Runs the bash script `path` (as the node sees it) as root in the sandbox,
    /// with what an earlier boot wrote in place.
    pub fn run(&self, path: &str) -> Boot {
        let root = self.dir.path();
        // A node with a real engine sees its instance's memory in /proc/meminfo, and
        // a /tmp of its own (the unit's PrivateTmp).
        let meminfo = if self.netns.is_some() {
            format!(
                "mount --bind {merged}/{HOME}/meminfo {merged}/proc/meminfo\nmount -t tmpfs tmpfs {merged}/tmp\n",
                merged = root.join("merged").display()
            )
        } else {
            String::new()
        };
        let mount = format!(
            "set -e
mount -t overlay overlay -o lowerdir=/,upperdir={upper},workdir={work} {merged}
mount --bind /proc {merged}/proc
mount --bind /dev {merged}/dev
{meminfo}exec chroot {merged} /usr/bin/env -i PATH=/{HOME}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/bash {path}",
            upper = root.join("upper").display(),
            work = root.join("work").display(),
            merged = root.join("merged").display(),
        );
        let mut command = match &self.netns {
            Some(netns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", netns, "unshare", "--mount", "--fork"]);
                c
            }
            None => {
                let mut c = Command::new("unshare");
                c.args(["--mount", "--net", "--fork"]);
                c
            }
        };
        let output = command
            .args(["--", "/bin/sh", "-c", &mount])
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

impl Drop for Sandbox {
    /// A node with a real engine: every process of its host ends with it.
    fn drop(&mut self) {
        if let Some(netns) = &self.netns {
            crate::testnet::kill_all(netns);
        }
    }
}

/// A zip of `files` (path, text), built by Python's zipfile as a user's tool would:
/// an extra configuration for the boot to read from S3.
pub fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let archive = dir.path().join("etc.zip");
    let mut program = String::from("import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\n");
    for (path, text) in files {
        program.push_str(&format!("z.writestr({path:?}, {text:?})\n"));
    }
    program.push_str("z.close()\n");
    let status = Command::new("python3")
        .args(["-c", &program])
        .arg(&archive)
        .status()
        .expect("python3 runs");
    assert!(status.success());
    fs::read(archive).expect("zip")
}
