//! `toolhost device …`: manage the registry from the command line against
//! the configured database (the server need not run).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ssh2_config::{ParseRule, SshConfig as SshClientConfig};
use toolhost_db::Database;
use toolhost_devices::host_keys::HostKeyRepo;
use toolhost_devices::{DeviceRepo, NewDevice, RepoError};
use toolhost_runtime::caps::devices::DeviceFilter;

use crate::cli::DeviceCommand;
use crate::config::Config;

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
                    limit: Some(toolhost_runtime::caps::devices::MAX_DEVICES_PER_PAGE),
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
    };
    db.close().await;
    outcome
}

fn explain(e: RepoError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Every `Host` entry with a literal alias becomes a device (patterns with
/// wildcards or negations only contribute defaults). Existing names are
/// left alone.
async fn import_ssh_config(repo: &DeviceRepo, file: Option<&Path>) -> anyhow::Result<()> {
    let path: PathBuf = match file {
        Some(f) => f.to_owned(),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".ssh/config"))
            .context("no FILE given and HOME is not set")?,
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
