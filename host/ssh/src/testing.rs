//! A real OpenSSH `sshd` for tests and benchmarks (feature `testing`).
//!
//! [`TestSshd::start`] generates an ed25519 host key and client keys with
//! `ssh-keygen` in a temporary directory, writes a private `sshd_config`
//! (listening on `127.0.0.N:port`, keys and pid file in that directory, no
//! PAM, `SetEnv SHLVL=1` so the login shell skips `~/.bashrc` for
//! non-interactive commands, a `PATH` that puts [`TestSshd::bin_dir`] first
//! so tests can install stand-in programs) and runs `sshd -D -e` as a child.
//! The server logs in only as the user running the tests; dropping the
//! value kills it and every session it started.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::config::SshConfig;
use crate::target::SshTarget;

/// Where Debian's `openssh-server` installs the daemon.
pub const SSHD: &str = "/usr/sbin/sshd";
/// How long to wait for a started sshd to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Addresses one OpenSSH sshd listens on at most (its `MAX_LISTEN_SOCKS`).
pub const MAX_LISTEN_ADDRESSES: usize = 16;
/// Concurrent sessions the test sshd allows on one connection.
pub const TEST_MAX_SESSIONS: usize = 64;

/// The next loopback address to hand out: 127.0.0.2, .3, ...
static NEXT_ADDR: AtomicU8 = AtomicU8::new(2);

/// A running test sshd and its keys.
#[derive(Debug)]
pub struct TestSshd {
    dir: tempfile::TempDir,
    /// The address it listens on, `127.0.0.N`.
    pub ip: Ipv4Addr,
    /// Further addresses it listens on, same port ([`TestSshd::start_on`]).
    pub extra_ips: Vec<Ipv4Addr>,
    pub port: u16,
    /// An ed25519 client key listed in `authorized_keys`.
    pub client_key: PathBuf,
    /// An ed25519 client key that is not authorized.
    pub wrong_key: PathBuf,
    /// The user sessions run as (the one running the tests).
    pub user: String,
    child: Option<Child>,
}

impl TestSshd {
    /// Generates keys and starts sshd on the next 127.0.0.N address.
    ///
    /// # Panics
    /// When sshd is missing or does not start: tests cannot go on.
    pub fn start() -> TestSshd {
        let n = NEXT_ADDR.fetch_add(1, Ordering::Relaxed).max(2);
        TestSshd::start_on(&[Ipv4Addr::new(127, 0, 0, n)])
    }

    /// Generates keys and starts one sshd listening on every address in
    /// `ips` (loopback addresses, same port), so many "devices" can share a
    /// server. `ips[0]` becomes [`TestSshd::ip`].
    ///
    /// # Panics
    /// When `ips` is empty or longer than [`MAX_LISTEN_ADDRESSES`], or sshd
    /// is missing or does not start.
    pub fn start_on(ips: &[Ipv4Addr]) -> TestSshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} not found; run: apt-get install -y openssh-server"
        );
        assert!(
            ips.len() <= MAX_LISTEN_ADDRESSES,
            "sshd listens on at most {MAX_LISTEN_ADDRESSES} addresses"
        );
        let (&ip, extra_ips) = ips.split_first().expect("at least one address");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port(ip);
        let user = current_user();
        std::fs::create_dir_all(dir.path().join("bin")).expect("bin dir");
        keygen(&dir.path().join("host_ed25519"), "ed25519", None);
        let client_key = dir.path().join("client_ed25519");
        let wrong_key = dir.path().join("wrong_ed25519");
        keygen(&client_key, "ed25519", None);
        keygen(&wrong_key, "ed25519", None);
        let mut sshd = TestSshd {
            dir,
            ip,
            extra_ips: extra_ips.to_vec(),
            port,
            client_key,
            wrong_key,
            user,
            child: None,
        };
        sshd.authorize(&sshd.client_key.clone());
        sshd.write_config();
        sshd.spawn();
        sshd
    }

    /// The temporary directory holding keys, config and `bin/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A directory at the front of the sessions' `PATH`.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }

    /// The sshd listener's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A target for this server, as device `device_id`.
    pub fn target(&self, device_id: &str) -> SshTarget {
        SshTarget {
            device_id: device_id.into(),
            name: device_id.into(),
            host: self.ip.to_string(),
            port: self.port,
            username: self.user.clone(),
            key_path: None,
            use_agent: false,
        }
    }

    /// A pool configuration authenticating with [`TestSshd::client_key`],
    /// with short timeouts suited to tests.
    pub fn config(&self) -> SshConfig {
        SshConfig {
            identity_file: Some(self.client_key.clone()),
            connect_timeout_ms: 5_000,
            command_timeout_ms: 30_000,
            ..SshConfig::default()
        }
    }

    /// Installs an executable script named `name` in [`TestSshd::bin_dir`].
    pub fn install_script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin_dir().join(name);
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// Generates a client key (`kind`: ed25519, rsa, ecdsa) with an optional
    /// passphrase and authorizes it.
    pub fn add_client_key(&self, name: &str, kind: &str, passphrase: Option<&str>) -> PathBuf {
        let path = self.dir.path().join(name);
        keygen(&path, kind, passphrase);
        self.authorize(&path);
        path
    }

    /// Replaces the host key and restarts sshd on the same address.
    pub fn change_host_key(&mut self) {
        self.stop();
        let key = self.dir.path().join("host_ed25519");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        keygen(&key, "ed25519", None);
        self.spawn();
    }

    /// The host key's `known_hosts` line for this server's address.
    pub fn known_hosts_line(&self) -> String {
        let public = std::fs::read_to_string(self.dir.path().join("host_ed25519.pub"))
            .expect("host public key");
        format!("[{}]:{} {}", self.ip, self.port, public.trim())
    }

    /// Kills sshd and every session it started (SIGKILL), as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let mut pids = descendants(child.id());
            pids.push(child.id());
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.wait();
        }
    }

    /// Starts sshd again after [`TestSshd::stop`], same address and keys.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn authorize(&self, key: &Path) {
        let public = std::fs::read_to_string(key.with_extension("pub")).expect("client pub");
        let path = self.dir.path().join("authorized_keys");
        let mut all = std::fs::read_to_string(&path).unwrap_or_default();
        all.push_str(&public);
        std::fs::write(&path, all).expect("authorized_keys");
    }

    fn write_config(&self) {
        let d = self.dir.path().display();
        let listen: String = std::iter::once(&self.ip)
            .chain(&self.extra_ips)
            .map(|ip| format!("ListenAddress {ip}:{}\n", self.port))
            .collect();
        let config = format!(
            "{listen}\
             HostKey {d}/host_ed25519\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             UseDNS no\n\
             PrintMotd no\n\
             MaxSessions {TEST_MAX_SESSIONS}\n\
             MaxStartups 200\n\
             SetEnv SHLVL=1 PATH={d}/bin:/usr/local/bin:/usr/bin:/bin\n\
             LogLevel {log_level}\n",
            log_level = std::env::var("TEST_SSHD_LOG_LEVEL").unwrap_or_else(|_| "ERROR".into()),
        );
        std::fs::write(self.dir.path().join("sshd_config"), config).expect("sshd_config");
    }

    fn spawn(&mut self) {
        // Privilege separation wants this directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let config = self.dir.path().join("sshd_config");
        let pid_file = self.dir.path().join("sshd.pid");
        let _ = std::fs::remove_file(&pid_file);
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sshd");
        self.child = Some(child);
        let started = Instant::now();
        // sshd writes its pid file once it listens; probing the port instead
        // would make it log an aborted handshake.
        while !pid_file.exists() {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "sshd exited at start ({status}); config {}",
                    config.display()
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "sshd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port free on `ip` right now.
fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn keygen(path: &Path, kind: &str, passphrase: Option<&str>) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        kind,
        "-N",
        passphrase.unwrap_or(""),
        "-C",
        "toolhost-test",
        "-f",
    ])
    .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let status = cmd.stdin(Stdio::null()).status().expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

/// Every process descending from `root`, from `/proc`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // The command name may contain spaces; fields resume after ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}
