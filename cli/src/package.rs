//! `package`: builds the two Lambdas for `provided.al2023`, zips each as `bootstrap`,
//! and puts the zips in S3 under keys named by their SHA-256, so a stack update sees
//! new keys exactly when the code changed and an unchanged build uploads nothing.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream;
use presto_ha_generator::settings::{LambdaArchitecture, StackSettings};
use sha2::{Digest, Sha256};

use crate::args::{BadArguments, PackageArgs};
use crate::aws::{self, AwsContext, Profile};

/// The newest glibc the `provided.al2023` runtime has; a binary that needs more does
/// not start there.
pub const AL2023_GLIBC: (u32, u32) = (2, 34);

/// One of the two Lambdas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lambda {
    /// The DNS custom resource.
    CustomResource,
    /// The watcher.
    Watcher,
}

impl Lambda {
    /// Both, in the order they are reported.
    pub const ALL: [Lambda; 2] = [Lambda::CustomResource, Lambda::Watcher];

    /// The cargo package and binary.
    pub fn binary(self) -> &'static str {
        match self {
            Self::CustomResource => "presto-ha-custom-resource",
            Self::Watcher => "presto-ha-watcher",
        }
    }

    /// The zip's name before its hash.
    pub fn stem(self) -> &'static str {
        match self {
            Self::CustomResource => "custom-resource",
            Self::Watcher => "watcher",
        }
    }
}

impl fmt::Display for Lambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stem())
    }
}

/// The newest glibc the `provided.al2023` runtime has, as the `.2.34` suffix
/// `cargo zigbuild` reads from a target to link against exactly that version.
fn glibc_suffix() -> String {
    format!(".{}.{}", AL2023_GLIBC.0, AL2023_GLIBC.1)
}

/// The Rust target of an architecture. Every build names it, so the host's own
/// architecture and libc play no part.
pub fn rust_target(architecture: LambdaArchitecture) -> &'static str {
    match architecture {
        LambdaArchitecture::X86_64 => "x86_64-unknown-linux-gnu",
        LambdaArchitecture::Arm64 => "aarch64-unknown-linux-gnu",
    }
}

/// The pinned packaging tool, as the README and the test command install it.
pub const ZIGBUILD: &str = "cargo-zigbuild";

/// The workspace `package` builds by default: the one this tool was built from.
pub fn default_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Checks, before a long build starts, that this machine can build `triple`: the
/// toolchain has its standard library, and `cargo-zigbuild` is there to link with zig.
fn check_toolchain(triple: &str) -> anyhow::Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", triple])
        .output()
        .with_context(|| format!("failed to run {rustc}"))?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&libdir.stdout).trim());
    if !libdir.is_dir() {
        bail!(
            "this machine cannot build the Lambdas for {triple}: the Rust toolchain lacks its standard library; run: rustup target add {triple}"
        );
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(ZIGBUILD).is_file()));
    if !on_path {
        bail!(
            "this machine cannot build the Lambdas: {ZIGBUILD} is not on PATH; package links with zig, so install both with: pip install cargo-zigbuild"
        );
    }
    Ok(())
}

/// Builds both Lambdas with the Cargo profile `profile` (release for a stack) for
/// `architecture` from the workspace at `source` with `cargo zigbuild`, which links
/// with zig against glibc 2.34 whatever the host runs, and returns each one's binary.
/// Cargo's own progress goes to stderr.
pub fn build(
    source: &Path,
    profile: &str,
    architecture: LambdaArchitecture,
) -> anyhow::Result<Vec<(Lambda, PathBuf)>> {
    let triple = rust_target(architecture);
    check_toolchain(triple)?;
    eprintln!(
        "Building the Lambdas for {architecture} ({profile} profile) in {}",
        source.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(source)
        .args([
            "zigbuild",
            "--profile",
            profile,
            "--locked",
            "--message-format=json-render-diagnostics",
            "--target",
            &format!("{triple}{}", glibc_suffix()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for lambda in Lambda::ALL {
        command.args(["--package", lambda.binary(), "--bin", lambda.binary()]);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("failed to run {cargo} in {}", source.display()))?;
    let mut built = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("failed to read cargo's output")?;
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            let name = message["target"]["name"].as_str().unwrap_or_default();
            if let (Some(lambda), Some(path)) = (
                Lambda::ALL.into_iter().find(|l| l.binary() == name),
                message["executable"].as_str(),
            ) {
                built.push((lambda, PathBuf::from(path)));
            }
        }
    }
    let status = child.wait().context("failed to wait for cargo")?;
    if !status.success() {
        bail!(
            "building the Lambdas failed ({status}) in {}; cargo's messages are above",
            source.display()
        );
    }
    for lambda in Lambda::ALL {
        if !built.iter().any(|(l, _)| *l == lambda) {
            bail!("cargo built no {} binary", lambda.binary());
        }
    }
    built.sort_by_key(|(lambda, _)| Lambda::ALL.iter().position(|l| l == lambda));
    Ok(built)
}

/// The newest `GLIBC_2.N` version a binary asks the dynamic linker for, read from the
/// version names in its dynamic string table.
pub fn glibc_needed(binary: &[u8]) -> Option<(u32, u32)> {
    const TAG: &[u8] = b"GLIBC_2.";
    binary
        .windows(TAG.len())
        .enumerate()
        .filter(|(_, window)| *window == TAG)
        .filter_map(|(at, _)| {
            let digits: Vec<u8> = binary[at + TAG.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .copied()
                .collect();
            std::str::from_utf8(&digits)
                .ok()?
                .parse()
                .ok()
                .map(|minor| (2, minor))
        })
        .max()
}

/// `binary` as a Lambda zip: one file, `bootstrap`, executable. The zip holds no
/// timestamps of its own, so the same binary always gives the same bytes.
pub fn zip_bootstrap(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    zip.start_file("bootstrap", options)
        .context("failed to start the zip")?;
    zip.write_all(binary).context("failed to write the zip")?;
    Ok(zip
        .finish()
        .context("failed to finish the zip")?
        .into_inner())
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The S3 key of a zip: `<prefix>/<stem>-<sha256>.zip`.
pub fn content_key(prefix: &str, lambda: Lambda, zip: &[u8]) -> String {
    let name = format!("{}-{}.zip", lambda.stem(), sha256_hex(zip));
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// What happened to one zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packaged {
    /// Which Lambda.
    pub lambda: Lambda,
    /// Its key in the bucket.
    pub key: String,
    /// The zip's size in bytes.
    pub size: usize,
    /// `false` when the bucket already held this exact zip.
    pub uploaded: bool,
}

/// Puts `bytes` at `key` unless the bucket already holds it. A key names its content,
/// so an object found there is these bytes.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> anyhow::Result<bool> {
    let location = format!("s3://{bucket}/{key}");
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => return Ok(false),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        // Without s3:ListBucket, S3 answers a missing key with 403: upload, and let
        // PutObject say whether that is allowed.
        Err(error) if error.raw_response().map(|r| r.status().as_u16()) == Some(403) => {}
        Err(error) => return Err(error).aws("HeadObject", &location),
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .aws("PutObject", &location)?;
    Ok(true)
}

/// Zips and uploads the built binaries; refuses a binary the runtime cannot start.
pub async fn package(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    built: &[(Lambda, PathBuf)],
) -> anyhow::Result<Vec<Packaged>> {
    let mut packaged = Vec::new();
    for (lambda, path) in built {
        let binary =
            std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
        if let Some(needed) = glibc_needed(&binary).filter(|needed| *needed > AL2023_GLIBC) {
            bail!(
                "{} needs glibc {}.{}, newer than the {}.{} of provided.al2023",
                path.display(),
                needed.0,
                needed.1,
                AL2023_GLIBC.0,
                AL2023_GLIBC.1
            );
        }
        let zip = zip_bootstrap(&binary)?;
        let key = content_key(prefix, *lambda, &zip);
        let size = zip.len();
        let uploaded = upload(s3, bucket, &key, zip, "application/zip").await?;
        packaged.push(Packaged {
            lambda: *lambda,
            key,
            size,
            uploaded,
        });
    }
    Ok(packaged)
}

impl PackageArgs {
    /// Builds, uploads and prints the template whose code parameters point at the
    /// uploaded zips. The flags and the AWS configuration are checked before a build
    /// of several minutes.
    pub async fn run(self, profile: &Profile, out: &mut impl Write) -> anyhow::Result<()> {
        let PackageArgs {
            bucket,
            prefix,
            source,
            cargo_profile,
            template: mut args,
        } = self;
        let defaults = StackSettings::default();
        let settings = &args.template;
        if settings.code_bucket.is_some()
            || settings.custom_resource_code_key != defaults.custom_resource_code_key
            || settings.watcher_code_key != defaults.watcher_code_key
        {
            return Err(BadArguments(
                "package sets the code location itself: use --bucket and --prefix, not --code-bucket or the code key flags".to_owned(),
            )
            .into());
        }
        args.settings().map_err(|e| BadArguments(e.to_string()))?;
        let config = aws::load(profile).await?;
        let source = source.unwrap_or_else(default_source);
        let built = build(&source, &cargo_profile, settings.lambda_architecture)?;
        let s3 = aws_sdk_s3::Client::new(&config);
        let packaged = package(&s3, bucket.as_str(), &prefix, &built).await?;
        write_report(bucket.as_str(), &packaged, &mut std::io::stderr())?;
        args.template.code_bucket = Some(bucket);
        for p in &packaged {
            let key = p.key.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            match p.lambda {
                Lambda::CustomResource => args.template.custom_resource_code_key = key,
                Lambda::Watcher => args.template.watcher_code_key = key,
            }
        }
        presto_ha_generator::cli::run(&args, out)?;
        Ok(())
    }
}

/// One line per zip: name, size, location, and whether it was uploaded.
pub fn write_report(
    bucket: &str,
    packaged: &[Packaged],
    out: &mut impl Write,
) -> std::io::Result<()> {
    for p in packaged {
        writeln!(
            out,
            "{:<16} {:>10} bytes ({:.1} MiB)  s3://{bucket}/{}  {}",
            p.lambda.stem(),
            p.size,
            p.size as f64 / (1024.0 * 1024.0),
            p.key,
            if p.uploaded {
                "uploaded"
            } else {
                "unchanged, not uploaded"
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_binary_gives_the_same_zip_and_key() {
        let binary = b"\x7fELF pretend binary".repeat(1000);
        let first = zip_bootstrap(&binary).expect("zips");
        let second = zip_bootstrap(&binary).expect("zips");
        assert_eq!(first, second);
        let key = content_key("presto-ha", Lambda::Watcher, &first);
        assert_eq!(key, content_key("presto-ha", Lambda::Watcher, &second));
        assert!(
            key.starts_with("presto-ha/watcher-") && key.ends_with(".zip"),
            "{key}"
        );
        assert_eq!(key.len(), "presto-ha/watcher-".len() + 64 + ".zip".len());
        let other = zip_bootstrap(b"another binary").expect("zips");
        assert_ne!(content_key("presto-ha", Lambda::Watcher, &other), key);
        assert!(!content_key("", Lambda::CustomResource, &other).contains('/'));
    }

    #[test]
    fn the_zip_holds_an_executable_bootstrap() {
        let zip = zip_bootstrap(b"#!/bin/sh\n").expect("zips");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("reads");
        assert_eq!(archive.len(), 1);
        let file = archive.by_index(0).expect("entry");
        assert_eq!(file.name().expect("name"), "bootstrap");
        assert_eq!(file.unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn reads_the_newest_glibc_a_binary_needs() {
        let binary = b"\0libc.so.6\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0".to_vec();
        assert_eq!(glibc_needed(&binary), Some((2, 34)));
        assert_eq!(glibc_needed(b"\0GLIBC_2.38\0"), Some((2, 38)));
        assert_eq!(glibc_needed(b"statically linked"), None);
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
