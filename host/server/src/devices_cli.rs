//! `toolhost device …`: manage the registry from the command line against
//! the configured database (the server need not run).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ssh2_config::{ParseRule, SshConfig as SshClientConfig};
use toolhost_db::Database;
use toolhost_devices::host_keys::HostKeyRepo;
use toolhost_devices::{DeviceRecord, DeviceRepo, NewDevice, RepoError};
use toolhost_runtime::caps::devices::{DeviceFilter, MAX_DEVICES_PER_PAGE};
use toolhost_ssh::HostKeyStore;
use toolhost_ssh::hostkeys::known_hosts_keys;

use crate::cli::DeviceCommand;
use crate::config::Config;
use crate::remote::ssh_target;

/// Runs one `device` subcommand.
pub async fn run(config: &Config, command: DeviceCommand) -> anyhow::Result<()> {
    let db = Database::connect(&config.database_url())
        .await
        .context("opening the database")?;
    let repo = DeviceRepo::new(db.clone());
    let outcome = match command {
        DeviceCommand::Add {
            name,
            hostname,
            port,
            user,
            key,
            device_type,
            tags,
        } => {
            let record = repo
                .create(NewDevice {
                    name,
                    hostname,
                    port: port.map(i64::from),
                    username: user,
                    auth_method: key.as_ref().map(|_| "key".to_owned()),
                    key_path: key.map(|k| k.display().to_string()),
                    device_type,
                    tags,
                    ..Default::default()
                })
                .await
                .map_err(explain)?;
            println!("added {} ({})", record.device.name, record.device.id);
            Ok(())
        }
        DeviceCommand::List { json } => {
            let page = repo
                .list(&DeviceFilter {
                    limit: Some(MAX_DEVICES_PER_PAGE),
                    ..Default::default()
                })
                .await
                .map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                for r in &page.devices {
                    let d = &r.device;
                    println!(
                        "{:<24} {}@{}:{:<6} {:<12} {}",
                        d.name,
                        d.username,
                        d.hostname,
                        d.port,
                        d.status,
                        d.tags.join(",")
                    );
                }
                println!("{} device(s)", page.total);
            }
            Ok(())
        }
        DeviceCommand::ImportSshConfig { file } => import_ssh_config(&repo, file.as_deref()).await,
        DeviceCommand::ForgetHostKey { device } => {
            let record = repo
                .get(&device)
                .await
                .map_err(explain)?
                .with_context(|| format!("no device {device:?}"))?;
            let n = HostKeyRepo::new(db.clone())
                .forget(&record.device.id)
                .await
                .map_err(explain)?;
            println!(
                "forgot {n} pinned host key(s) of {}; the next connection trusts the key it is shown",
                record.device.name
            );
            Ok(())
        }
        DeviceCommand::ImportKnownHosts { file, devices } => {
            import_known_hosts(&repo, &HostKeyRepo::new(db.clone()), file, &devices).await
        }
    };
    db.close().await;
    outcome
}

fn explain(e: RepoError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Pins, for each named device (default: every device), the host keys the
/// known_hosts file lists for its hostname and port. Fails before pinning
/// anything when a named device is unknown, and at the end when the file
/// contradicts a key already pinned (pinning never overwrites one).
async fn import_known_hosts(
    repo: &DeviceRepo,
    keys: &HostKeyRepo,
    file: Option<PathBuf>,
    names: &[String],
) -> anyhow::Result<()> {
    let path = match file {
        Some(f) => f,
        None => home_file(".ssh/known_hosts")?,
    };
    // A missing file would list nothing and look like a clean import.
    std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
    let records = if names.is_empty() {
        all_devices(repo).await?
    } else {
        let mut found = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            match repo.get(name).await.map_err(explain)? {
                Some(r) => found.push(r),
                None => unknown.push(name.as_str()),
            }
        }
        if !unknown.is_empty() {
            bail!("no device {}; nothing imported", unknown.join(", "));
        }
        found
    };

    let mut contradicted = 0;
    for record in records {
        let target = ssh_target(record);
        let address = format!("{}:{}", target.host, target.port);
        let listed = known_hosts_keys(&path, &target.host, target.port)
            .with_context(|| format!("reading {}", path.display()))?;
        if listed.is_empty() {
            println!("{}: no host key listed for {address}", target.name);
            continue;
        }
        for key in &listed {
            HostKeyStore::pin(keys, &target.device_id, key)
                .await
                .with_context(|| format!("pinning a host key of {}", target.name))?;
        }
        let pinned = keys.list(&target.device_id).await.map_err(explain)?;
        let (held, refused): (Vec<_>, Vec<_>) = listed.iter().partition(|key| {
            pinned
                .iter()
                .any(|p| p.fingerprint_sha256 == key.fingerprint_sha256)
        });
        println!(
            "{}: pinned {} host key(s) listed for {address}",
            target.name,
            held.len()
        );
        for key in refused {
            contradicted += 1;
            let kept = pinned
                .iter()
                .find(|p| p.key_type == key.key_type)
                .map_or("", |p| p.fingerprint_sha256.as_str());
            println!(
                "{}: kept the pinned {} key {kept}; the file lists {} \
                 (forget-host-key first if the device's key really changed)",
                target.name, key.key_type, key.fingerprint_sha256
            );
        }
    }
    if contradicted > 0 {
        bail!("{contradicted} listed host key(s) contradict keys already pinned");
    }
    Ok(())
}

/// Every registered device, page by page.
async fn all_devices(repo: &DeviceRepo) -> anyhow::Result<Vec<DeviceRecord>> {
    let mut all = Vec::new();
    loop {
        let page = repo
            .list(&DeviceFilter {
                limit: Some(MAX_DEVICES_PER_PAGE),
                offset: Some(u32::try_from(all.len()).context("too many devices")?),
                ..Default::default()
            })
            .await
            .map_err(explain)?;
        let last = page.devices.is_empty() || all.len() + page.devices.len() >= page.total as usize;
        all.extend(page.devices);
        if last {
            return Ok(all);
        }
    }
}

/// `$HOME/<relative>`.
fn home_file(relative: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(relative))
        .context("no file given and HOME is not set")
}

/// Every `Host` entry with a literal alias becomes a device (patterns with
/// wildcards or negations only contribute defaults). Existing names are
/// left alone.
async fn import_ssh_config(repo: &DeviceRepo, file: Option<&Path>) -> anyhow::Result<()> {
    let path: PathBuf = match file {
        Some(f) => f.to_owned(),
        None => home_file(".ssh/config")?,
    };
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let parsed = SshClientConfig::default()
        .parse(&mut BufReader::new(file), ParseRule::ALLOW_UNKNOWN_FIELDS)
        .with_context(|| format!("parsing {}", path.display()))?;
    let aliases: Vec<String> = parsed
        .get_hosts()
        .iter()
        .flat_map(|h| h.pattern.iter())
        .filter(|c| !c.negated && !c.pattern.contains(['*', '?', '!']))
        .map(|c| c.pattern.clone())
        .collect();
    let (mut added, mut skipped) = (0, 0);
    for alias in aliases {
        let params = parsed.query(&alias);
        let key = params
            .identity_file
            .as_ref()
            .and_then(|files| files.first())
            .map(|k| k.display().to_string());
        let new = NewDevice {
            name: alias.clone(),
            hostname: params.host_name.clone().unwrap_or_else(|| alias.clone()),
            port: params.port.map(i64::from),
            username: params.user.clone(),
            auth_method: key.as_ref().map(|_| "key".to_owned()),
            key_path: key,
            tags: vec!["ssh-config".into()],
            description: Some(format!("imported from {}", path.display())),
            ..Default::default()
        };
        match repo.create(new).await {
            Ok(r) => {
                added += 1;
                println!(
                    "added {} → {}@{}:{}",
                    r.device.name, r.device.username, r.device.hostname, r.device.port
                );
            }
            Err(RepoError::Duplicate { .. }) => {
                skipped += 1;
                println!("skipped {alias}: a device with that name exists");
            }
            Err(e) => {
                skipped += 1;
                println!("skipped {alias}: {e}");
            }
        }
    }
    println!("{added} added, {skipped} skipped");
    Ok(())
}
