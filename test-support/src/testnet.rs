//! A test network of hosts, each a network namespace of its own, made by the test and
//! gone with it: a hub namespace holds a bridge (the network's first address, in
//! 198.18.0.0/15, the range set aside for testing networks) and the network's DNS
//! server; each host is a namespace joined to the bridge by a veth pair, with its own
//! address. Clients run in the hub. Every interface and address lives in the test's
//! namespaces, but for one the test may ask for ([`TestNet::reach_from_here`]): a
//! veth pair that gives this process, as a Lambda function in the VPC, a route to
//! the network's /24 and nothing else.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};

/// A test network; dropping it ends every process in its namespaces and removes them.
pub struct TestNet {
    name: String,
    hub: String,
    /// The network's first three octets.
    prefix: [u8; 3],
    zone: PathBuf,
    dns: Child,
    hosts: Mutex<Vec<String>>,
    made: AtomicUsize,
    _dir: tempfile::TempDir,
}

/// One host of a [`TestNet`]: its namespace and address.
#[derive(Debug, Clone)]
pub struct Host {
    /// The network namespace, for `ip netns exec`.
    pub netns: String,
    /// Its address on the test network.
    pub address: Ipv4Addr,
    /// The network's DNS server.
    pub resolver: Ipv4Addr,
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
    /// A new network with its hub and DNS server, and no hosts, on a /24 of
    /// 198.19.0.0/16 no other network of this process has (198.18.0.0/16 is left to
    /// the networks of sandboxes in the emulator).
    pub fn new() -> Self {
        static NEXT_NETWORK: AtomicU8 = AtomicU8::new(0);
        Self::on(Ipv4Addr::new(
            198,
            19,
            NEXT_NETWORK.fetch_add(1, Ordering::SeqCst),
            0,
        ))
    }

    /// A new network on the /24 of `network` (in 198.18.0.0/15), with its hub and DNS
    /// server at the network's first address, and no hosts.
    pub fn on(network: Ipv4Addr) -> Self {
        let [a, b, c, _] = network.octets();
        assert!(
            a == 198 && b & 0xfe == 18,
            "{network} is not in 198.18.0.0/15"
        );
        let prefix = [a, b, c];
        let hub_address = Ipv4Addr::new(a, b, c, 1);
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
            &format!("{hub_address}/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &hub, "link", "set", "br0", "up"]);
        // `ip netns exec` shows the hub's clients this resolv.conf.
        let resolv = PathBuf::from(format!("/etc/netns/{hub}"));
        std::fs::create_dir_all(&resolv).expect("/etc/netns");
        std::fs::write(
            resolv.join("resolv.conf"),
            format!("nameserver {hub_address}\n"),
        )
        .expect("the hub's resolv.conf");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let zone = dir.path().join("zone.json");
        std::fs::write(&zone, "{}").expect("zone file");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dns.py");
        let mut dns = Command::new("ip")
            .args([
                "netns",
                "exec",
                &hub,
                "python3",
                script,
                &hub_address.to_string(),
            ])
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
            prefix,
            zone,
            dns,
            hosts: Mutex::new(Vec::new()),
            made: AtomicUsize::new(0),
            _dir: dir,
        }
    }

    /// The address of the network's DNS server and of the hub's bridge.
    pub fn resolver(&self) -> Ipv4Addr {
        let [a, b, c] = self.prefix;
        Ipv4Addr::new(a, b, c, 1)
    }

    /// A new host on the network, at .(10 + n) for the n-th host.
    pub fn host(&self) -> Host {
        let [a, b, c] = self.prefix;
        let n = u8::try_from(self.made.load(Ordering::SeqCst)).expect("few hosts");
        self.host_at(Ipv4Addr::new(a, b, c, 10 + n))
    }

    /// A new host on the network at `address`, which no host has now.
    pub fn host_at(&self, address: Ipv4Addr) -> Host {
        let [a, b, c, _] = address.octets();
        assert_eq!([a, b, c], self.prefix, "{address} is not on the network");
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        let netns = format!("{}h{n}", self.name);
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
        self.hosts.lock().expect("hosts").push(netns.clone());
        Host {
            netns,
            address,
            resolver: self.resolver(),
        }
    }

    /// Removes `host` from the network, every process on it ended: an instance
    /// terminated. Its address is free again.
    pub fn remove(&self, host: &Host) {
        kill_all(&host.netns);
        let _ = Command::new("ip")
            .args(["netns", "del", &host.netns])
            .status();
        self.hosts
            .lock()
            .expect("hosts")
            .retain(|netns| *netns != host.netns);
    }

    /// Gives this process a route to the network, as a function in the VPC has: a
    /// veth pair from this namespace to the hub's bridge, this end at the network's
    /// second address. Gone with the network.
    pub fn reach_from_here(&self) {
        let [a, b, c] = self.prefix;
        let here = format!("{}x", self.name);
        ip(&[
            "link", "add", &here, "type", "veth", "peer", "name", "x0", "netns", &self.hub,
        ]);
        ip(&["-n", &self.hub, "link", "set", "x0", "master", "br0", "up"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", Ipv4Addr::new(a, b, c, 2)),
            "dev",
            &here,
        ]);
        ip(&["link", "set", &here, "up"]);
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
        // A process that ends between the listing and its kill is what was wanted.
        for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
            let _ = Command::new("kill")
                .args(["-9", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = self.dns.kill();
        let _ = self.dns.wait();
        let hosts = std::mem::take(self.hosts.get_mut().expect("hosts"));
        for netns in hosts.iter().chain(std::iter::once(&self.hub)) {
            kill_all(netns);
            let _ = Command::new("ip").args(["netns", "del", netns]).status();
        }
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.hub));
    }
}
