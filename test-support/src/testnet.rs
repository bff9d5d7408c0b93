//! A test network of hosts, each a network namespace of its own, made by the test and
//! gone with it: a hub namespace holds a bridge (198.18.0.1/24, the range set aside
//! for testing networks) and the network's DNS server; each host is a namespace
//! joined to the bridge by a veth pair, with its own address. Clients run in the hub.
//! Nothing here touches the machine's own network: every interface and address lives
//! in the test's namespaces.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The hub's address: the DNS server's, and the clients'.
pub const HUB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// A test network; dropping it ends every process in its namespaces and removes them.
pub struct TestNet {
    name: String,
    hub: String,
    zone: PathBuf,
    dns: Child,
    hosts: Vec<String>,
    _dir: tempfile::TempDir,
}

/// One host of a [`TestNet`]: its namespace and address.
#[derive(Debug, Clone)]
pub struct Host {
    /// The network namespace, for `ip netns exec`.
    pub netns: String,
    /// Its address on the test network.
    pub address: Ipv4Addr,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestNet {
    /// A new network with its hub and DNS server, and no hosts.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "pha{}n{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let hub = format!("{name}hub");
        ip(&["netns", "add", &hub]);
        ip(&["-n", &hub, "link", "set", "lo", "up"]);
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            &hub,
            "addr",
            "add",
            &format!("{HUB}/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &hub, "link", "set", "br0", "up"]);
        // `ip netns exec` shows the hub's clients this resolv.conf.
        let resolv = PathBuf::from(format!("/etc/netns/{hub}"));
        std::fs::create_dir_all(&resolv).expect("/etc/netns");
        std::fs::write(resolv.join("resolv.conf"), format!("nameserver {HUB}\n"))
            .expect("the hub's resolv.conf");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let zone = dir.path().join("zone.json");
        std::fs::write(&zone, "{}").expect("zone file");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dns.py");
        let mut dns = Command::new("ip")
            .args(["netns", "exec", &hub, "python3", script, &HUB.to_string()])
            .arg(&zone)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the DNS server starts");
        let mut ready = String::new();
        BufReader::new(dns.stdout.take().expect("stdout"))
            .read_line(&mut ready)
            .expect("the DNS server says it is ready");
        assert_eq!(ready.trim(), "ready", "the DNS server did not start");
        Self {
            name,
            hub,
            zone,
            dns,
            hosts: Vec::new(),
            _dir: dir,
        }
    }

    /// A new host on the network, at 198.18.0.(10 + n) for the n-th host.
    pub fn host(&mut self) -> Host {
        let n = self.hosts.len();
        let netns = format!("{}h{n}", self.name);
        let address = Ipv4Addr::new(198, 18, 0, 10 + u8::try_from(n).expect("few hosts"));
        ip(&["netns", "add", &netns]);
        let port = format!("v{n}");
        ip(&[
            "link", "add", &port, "netns", &self.hub, "type", "veth", "peer", "name", "eth0",
            "netns", &netns,
        ]);
        ip(&["-n", &self.hub, "link", "set", &port, "master", "br0", "up"]);
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &netns, "link", "set", "eth0", "up"]);
        self.hosts.push(netns.clone());
        Host { netns, address }
    }

    /// Cuts `host`'s link: its veth goes down, as a failed network would.
    pub fn cut(&self, host: &Host) {
        ip(&["-n", &host.netns, "link", "set", "eth0", "down"]);
    }

    /// Sets the A records the network's DNS server answers (fully qualified names
    /// with the trailing dot), each with its TTL in seconds.
    pub fn set_records(&self, records: &BTreeMap<String, (Ipv4Addr, u32)>) {
        let zone: serde_json::Map<String, serde_json::Value> = records
            .iter()
            .map(|(name, (ip, ttl))| {
                (
                    name.clone(),
                    serde_json::json!({ "ip": ip.to_string(), "ttl": ttl }),
                )
            })
            .collect();
        let new = self.zone.with_extension("new");
        std::fs::write(&new, serde_json::Value::Object(zone).to_string()).expect("zone");
        std::fs::rename(new, &self.zone).expect("zone replaced");
    }

    /// `program`, to run in the hub (where clients live), with a clean environment:
    /// no `REQUESTS_CA_BUNDLE` or `SSL_CERT_FILE` of this machine's, so that a client
    /// trusts only what the test gives it.
    pub fn in_hub(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.hub])
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env(
                "HOME",
                std::env::var_os("HOME").unwrap_or_else(|| "/root".into()),
            )
            .env("LANG", "C.UTF-8");
        command
    }
}

impl Default for TestNet {
    fn default() -> Self {
        Self::new()
    }
}

/// Ends every process in the namespace `netns`.
pub fn kill_all(netns: &str) {
    if let Ok(output) = Command::new("ip").args(["netns", "pids", netns]).output() {
        for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = self.dns.kill();
        let _ = self.dns.wait();
        for netns in self.hosts.iter().chain(std::iter::once(&self.hub)) {
            kill_all(netns);
            let _ = Command::new("ip").args(["netns", "del", netns]).status();
        }
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.hub));
    }
}
