//! [`SshPool`]: pooled connections per device and [`SshPool::exec`].
//!
//! Each distinct [`SshTarget`] gets a `DevicePool`: up to
//! `max_connections_per_device` authenticated connections, each carrying up
//! to `max_channels_per_connection` concurrent execs (one exec per channel,
//! as OpenSSH expects). A semaphore with the product of the two as permits
//! makes callers beyond that wait, within their command deadline. New
//! connections are opened one at a time per device, so a burst of execs
//! against a cold device opens one connection rather than one each; when
//! that connect fails, the callers that were waiting for it share its error
//! instead of each trying (and timing out) in turn.
//!
//! A connection found closed (keepalives unanswered, server gone) is dropped
//! from the pool; when opening a channel on a reused connection fails because
//! the connection died, the exec reconnects once — safe, since nothing ran
//! yet. A connection that dies while the command runs is reported as
//! [`SshError::DeviceOffline`] and never retried: the command may have run.
//! A background task closes connections idle for `idle_expiry_ms`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use russh::client::{self, Handle, Msg};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, Disconnect, Preferred, cipher, kex};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::config::{ExecMode, MAX_STDIN_BYTES, SshConfig};
use crate::error::SshError;
use crate::exec::{self, ExecOptions, ExecOutput, RunError};
use crate::hostkeys::{self, HostKeyStore};
use crate::quote;
use crate::resident::{Parked, Resident};
use crate::target::SshTarget;

/// Longest pause between two idle sweeps.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Shortest pause between two idle sweeps.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// How long killing an abandoned command may take before the exec returns
/// anyway.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);

/// After a device failed to start a resident shell, how long it gets a
/// session per exec before the next attempt.
const RESIDENT_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

/// Key exchanges in order of preference: curve25519 first (fast, and every
/// OpenSSH since 6.5 has it), then the rest of russh's safe list.
const KEX_ORDER: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::MLKEM768X25519_SHA256,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
];

/// Ciphers in order of preference: AES-GCM is hardware-accelerated on any
/// host CPU this runs on.
const CIPHER_ORDER: &[cipher::Name] = &[
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_128_CTR,
];

/// Counters over the pool's life, for tests, metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections successfully opened (authenticated).
    pub connections_opened: u64,
    /// Connections in the pool now.
    pub connections_open: usize,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Execs that got a channel.
    pub execs: u64,
    /// Resident shells started (each one served one or more execs).
    pub resident_shells_started: u64,
}

/// Pooled SSH access to every device. Cheap to clone; dropping the last
/// clone closes every connection.
#[derive(Clone)]
pub struct SshPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SshPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshPool")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: SshConfig,
    russh: Arc<client::Config>,
    store: Arc<dyn HostKeyStore>,
    devices: Mutex<HashMap<SshTarget, Arc<DevicePool>>>,
    keys: Mutex<HashMap<PathBuf, Arc<PrivateKey>>>,
    connections_opened: AtomicU64,
    connect_failures: AtomicU64,
    execs: AtomicU64,
    resident_shells_started: AtomicU64,
}

struct DevicePool {
    /// One permit per channel the device may carry at once.
    slots: Arc<Semaphore>,
    conns: Mutex<Vec<Arc<Connection>>>,
    /// Held while opening a connection, so only one opens at a time.
    connecting: tokio::sync::Mutex<()>,
    /// The last failed connect, shared with callers that waited for it.
    last_failure: Mutex<Option<(Instant, SshError)>>,
    /// When the device last failed to start a resident shell; it gets a
    /// session per exec for [`RESIDENT_RETRY_AFTER`] after that.
    resident_refused_at: Mutex<Option<Instant>>,
}

struct Connection {
    handle: Handle<Client>,
    /// Channels open: running execs plus idle resident shells.
    in_use: AtomicUsize,
    last_used: Mutex<Instant>,
    /// Resident shells waiting for their next exec; each holds a channel
    /// counted in `in_use`.
    idle: Mutex<Vec<Parked>>,
}

impl Connection {
    /// Channels carrying a running exec (idle resident shells excluded).
    fn active(&self) -> usize {
        let idle = lock(&self.idle).len();
        self.in_use.load(Ordering::Acquire).saturating_sub(idle)
    }
}

/// A channel's claim on its connection; released on drop.
struct Lease {
    conn: Arc<Connection>,
    /// Whether dropping the lease gives the channel back.
    counted: bool,
}

impl Lease {
    fn new(conn: Arc<Connection>) -> Lease {
        Lease {
            conn,
            counted: true,
        }
    }

    /// Parks `shell` on the connection for the next exec; its channel stays
    /// claimed.
    fn park(mut self, shell: Resident) {
        lock(&self.conn.idle).push(shell.park());
        self.counted = false;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        *lock(&self.conn.last_used) = Instant::now();
        if self.counted {
            self.conn.in_use.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Kills a remote command whose exec was abandoned by its caller (the
/// future dropped: a client cancelled the tool call). Disarmed once the exec
/// ends on its own terms.
struct KillOnDrop {
    pool: SshPool,
    conn: Arc<Connection>,
    target: SshTarget,
    /// The pid to kill (its process group first); 0 until known.
    pid: Arc<AtomicU32>,
    armed: bool,
}

impl KillOnDrop {
    fn new(pool: &SshPool, conn: &Arc<Connection>, target: &SshTarget, pid: u32) -> KillOnDrop {
        KillOnDrop {
            pool: pool.clone(),
            conn: Arc::clone(conn),
            target: target.clone(),
            pid: Arc::new(AtomicU32::new(pid)),
            armed: true,
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = self.pid.load(Ordering::Acquire);
        if !self.armed || pid == 0 {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pool, conn, target) = (
            self.pool.clone(),
            Arc::clone(&self.conn),
            self.target.clone(),
        );
        debug!(device = %target.name, pid, "exec abandoned by its caller; killing the command");
        rt.spawn(async move { pool.kill_remote(&conn, &target, pid).await });
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SshPool {
    /// A pool using `config` and pinning host keys in `store`. Must be called
    /// inside a Tokio runtime, which runs the idle-expiry task.
    pub fn new(config: SshConfig, store: Arc<dyn HostKeyStore>) -> SshPool {
        let keepalive = (config.keepalive_interval_ms > 0)
            .then(|| Duration::from_millis(config.keepalive_interval_ms));
        let russh = client::Config {
            keepalive_interval: keepalive,
            keepalive_max: config.keepalive_max,
            nodelay: true,
            preferred: Preferred {
                kex: KEX_ORDER.into(),
                cipher: CIPHER_ORDER.into(),
                ..Preferred::DEFAULT
            },
            ..client::Config::default()
        };
        let inner = Arc::new(Inner {
            config,
            russh: Arc::new(russh),
            store,
            devices: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            connections_opened: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            execs: AtomicU64::new(0),
            resident_shells_started: AtomicU64::new(0),
        });
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(sweep_idle(Arc::downgrade(&inner)));
            }
            Err(_) => {
                warn!("SshPool created outside a Tokio runtime: idle connections never expire")
            }
        }
        SshPool { inner }
    }

    /// The host-wide configuration.
    pub fn config(&self) -> &SshConfig {
        &self.inner.config
    }

    /// The host key store, for admin re-trust and listing.
    pub fn host_keys(&self) -> &Arc<dyn HostKeyStore> {
        &self.inner.store
    }

    /// Counters over the pool's life.
    pub fn stats(&self) -> PoolStats {
        // A connection that died (keepalives unanswered, server gone) stays
        // in its device's list until the next exec or idle sweep prunes it;
        // it is not open.
        let connections_open = lock(&self.inner.devices)
            .values()
            .map(|d| {
                lock(&d.conns)
                    .iter()
                    .filter(|c| !c.handle.is_closed())
                    .count()
            })
            .sum();
        PoolStats {
            connections_opened: self.inner.connections_opened.load(Ordering::Relaxed),
            connections_open,
            connect_failures: self.inner.connect_failures.load(Ordering::Relaxed),
            execs: self.inner.execs.load(Ordering::Relaxed),
            resident_shells_started: self.inner.resident_shells_started.load(Ordering::Relaxed),
        }
    }

    /// Closes every pooled connection to `device_id` (e.g. after an admin
    /// re-trusted its host key or edited it). Running execs finish first.
    pub fn disconnect_device(&self, device_id: &str) {
        let pools: Vec<_> = lock(&self.inner.devices)
            .iter()
            .filter(|(t, _)| t.device_id == device_id)
            .map(|(_, p)| Arc::clone(p))
            .collect();
        for pool in pools {
            let conns = std::mem::take(&mut *lock(&pool.conns));
            for conn in conns {
                close(conn);
            }
        }
    }

    /// Runs `argv` on `target`: every element is quoted so it arrives as one
    /// literal argument. Output is capped per stream; the command is killed at
    /// its deadline.
    pub async fn exec(
        &self,
        target: &SshTarget,
        argv: &[String],
        options: ExecOptions,
    ) -> Result<ExecOutput, SshError> {
        let command = quote::command_line(argv)?;
        if options
            .stdin
            .as_ref()
            .is_some_and(|s| s.len() > MAX_STDIN_BYTES)
        {
            return Err(SshError::InvalidRequest(format!(
                "stdin is larger than the {MAX_STDIN_BYTES}-byte limit"
            )));
        }
        let config = &self.inner.config;
        let timeout = config.command_timeout(options.timeout);
        let cap = config.output_cap(options.max_output_bytes);
        let deadline = Instant::now() + timeout;

        let device = self.device_pool(target);
        let _slot =
            tokio::time::timeout_at(deadline.into(), Arc::clone(&device.slots).acquire_owned())
                .await
                .map_err(|_| SshError::Timeout { after: timeout })?
                .map_err(|_| SshError::Failed("the connection pool is closed".into()))?;
        let resident = self.inner.config.exec_mode == ExecMode::Resident
            && options.stdin.is_none()
            && lock(&device.resident_refused_at)
                .is_none_or(|at| at.elapsed() >= RESIDENT_RETRY_AFTER);
        let ran = if resident {
            self.exec_resident(&device, target, &command, cap, deadline, timeout)
                .await?
        } else {
            None
        };
        // The lease (when the channel is not parked) is held until any kill
        // below has run.
        let (finished, conn, _lease) = match ran {
            Some(ran) => ran,
            None => {
                let (channel, lease) = self.open_channel(&device, target).await?;
                self.inner.execs.fetch_add(1, Ordering::Relaxed);
                let guard = KillOnDrop::new(self, &lease.conn, target, 0);
                let command = exec::wrap(&command);
                let finished = exec::run(
                    channel,
                    &command,
                    options.stdin.as_deref(),
                    cap,
                    deadline,
                    &guard.pid,
                )
                .await;
                guard.disarm();
                (finished, Arc::clone(&lease.conn), Some(lease))
            }
        };
        if let Some(pid) = finished.kill_pid {
            // In a task of its own, so it completes even if this exec's
            // caller stops waiting.
            let (pool, conn, target) = (self.clone(), Arc::clone(&conn), target.clone());
            let _ = tokio::spawn(async move { pool.kill_remote(&conn, &target, pid).await }).await;
        }
        match finished.result {
            Ok(output) => Ok(output),
            Err(RunError::Timeout) => {
                debug!(device = %target.name, "command timed out; killed");
                Err(SshError::Timeout { after: timeout })
            }
            Err(RunError::ConnectionLost) => {
                self.drop_connection(&device, &conn);
                Err(SshError::DeviceOffline {
                    device: target.name.clone(),
                    reason: "the connection was lost while the command ran; it may have partly run"
                        .into(),
                })
            }
            Err(RunError::Refused) => Err(SshError::Failed(
                "the device refused to run the command".into(),
            )),
            Err(RunError::NoExitStatus) => Err(SshError::Failed(
                "the command ended without reporting an exit status".into(),
            )),
            Err(RunError::NotStarted) => Err(SshError::DeviceOffline {
                device: target.name.clone(),
                reason: "the command could not be handed to the device".into(),
            }),
        }
    }

    /// Runs `command` in a resident shell: an idle one on a pooled
    /// connection, else a new one. `None` when the device cannot host one
    /// (the caller then uses a session). A shell found dead before the
    /// command started is replaced once.
    async fn exec_resident(
        &self,
        device: &DevicePool,
        target: &SshTarget,
        command: &str,
        cap: usize,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Option<(exec::Finished, Arc<Connection>, Option<Lease>)>, SshError> {
        let mut retried = false;
        let mut counted = false;
        loop {
            let (lease, shell) = match self.take_idle(device) {
                Some((lease, parked)) => match parked.resume().await {
                    Ok(shell) => (lease, shell),
                    Err(pid) => {
                        // It ended or would not stop writing while parked.
                        debug!(device = %target.name, "discarding a parked resident shell");
                        let pool = self.clone();
                        let (conn, target) = (Arc::clone(&lease.conn), target.clone());
                        tokio::spawn(async move { pool.kill_remote(&conn, &target, pid).await });
                        continue;
                    }
                },
                None => {
                    let (channel, lease) = self.open_channel(device, target).await?;
                    match Resident::start(channel, deadline).await {
                        Ok(shell) => {
                            self.inner
                                .resident_shells_started
                                .fetch_add(1, Ordering::Relaxed);
                            (lease, shell)
                        }
                        Err(RunError::Refused) => {
                            warn!(device = %target.name,
                                  "the device cannot host a resident shell; using a session per exec");
                            *lock(&device.resident_refused_at) = Some(Instant::now());
                            return Ok(None);
                        }
                        Err(RunError::Timeout) => return Err(SshError::Timeout { after: timeout }),
                        Err(_) => {
                            self.drop_connection(device, &lease.conn);
                            return Err(SshError::DeviceOffline {
                                device: target.name.clone(),
                                reason: "the connection closed before the command started".into(),
                            });
                        }
                    }
                }
            };
            if !counted {
                self.inner.execs.fetch_add(1, Ordering::Relaxed);
                counted = true;
            }
            let guard = KillOnDrop::new(self, &lease.conn, target, shell.pid);
            let (finished, shell) = shell.run(command, cap, deadline).await;
            guard.disarm();
            if matches!(finished.result, Err(RunError::NotStarted)) && !retried {
                debug!(device = %target.name, "idle resident shell was gone; starting another");
                retried = true;
                continue;
            }
            let conn = Arc::clone(&lease.conn);
            return Ok(Some(match shell {
                Some(shell) => {
                    lease.park(shell);
                    (finished, conn, None)
                }
                None => (finished, conn, Some(lease)),
            }));
        }
    }

    /// An idle resident shell on a live pooled connection, with its claim.
    fn take_idle(&self, device: &DevicePool) -> Option<(Lease, Parked)> {
        let conns = lock(&device.conns);
        conns
            .iter()
            .filter(|c| !c.handle.is_closed())
            .find_map(|c| {
                let shell = lock(&c.idle).pop()?;
                Some((Lease::new(Arc::clone(c)), shell))
            })
    }

    /// Kills an abandoned command's process group from a second channel on
    /// the same connection, waiting (bounded) until the kill has run.
    async fn kill_remote(&self, conn: &Connection, target: &SshTarget, pid: u32) {
        let kill = async {
            let mut channel = conn.handle.channel_open_session().await?;
            channel.exec(false, exec::kill_command(pid)).await?;
            while let Some(msg) = channel.wait().await {
                if matches!(msg, russh::ChannelMsg::Close) {
                    break;
                }
            }
            Ok::<(), russh::Error>(())
        };
        match tokio::time::timeout(KILL_TIMEOUT, kill).await {
            Ok(Ok(())) => debug!(device = %target.name, pid, "killed abandoned command"),
            Ok(Err(e)) => {
                warn!(device = %target.name, pid, error = %e, "could not kill abandoned command")
            }
            Err(_) => warn!(device = %target.name, pid, "killing abandoned command timed out"),
        }
    }

    fn device_pool(&self, target: &SshTarget) -> Arc<DevicePool> {
        let config = &self.inner.config;
        let mut devices = lock(&self.inner.devices);
        if let Some(pool) = devices.get(target) {
            return Arc::clone(pool);
        }
        let permits = config.connections_per_device() * config.channels_per_connection();
        let pool = Arc::new(DevicePool {
            slots: Arc::new(Semaphore::new(permits)),
            conns: Mutex::new(Vec::new()),
            connecting: tokio::sync::Mutex::new(()),
            last_failure: Mutex::new(None),
            resident_refused_at: Mutex::new(None),
        });
        devices.insert(target.clone(), Arc::clone(&pool));
        pool
    }

    /// A fresh channel on a pooled (or new) connection, reconnecting once
    /// when a reused connection turns out dead.
    async fn open_channel(
        &self,
        device: &DevicePool,
        target: &SshTarget,
    ) -> Result<(Channel<Msg>, Lease), SshError> {
        let mut retried = false;
        loop {
            let (lease, fresh) = self.lease(device, target).await?;
            let open = tokio::time::timeout(
                self.inner.config.connect_timeout(),
                lease.conn.handle.channel_open_session(),
            )
            .await;
            match open {
                Ok(Ok(channel)) => return Ok((channel, lease)),
                Ok(Err(e)) if !lease.conn.handle.is_closed() => {
                    warn!(device = %target.name, error = %e, "channel open refused");
                    return Err(SshError::Failed(
                        "the device refused a new session channel".into(),
                    ));
                }
                _ => {
                    self.drop_connection(device, &lease.conn);
                    if fresh || retried {
                        return Err(SshError::DeviceOffline {
                            device: target.name.clone(),
                            reason: "the connection closed before the command started".into(),
                        });
                    }
                    info!(device = %target.name, "pooled connection is dead; reconnecting");
                    retried = true;
                }
            }
        }
    }

    /// A claim on a connection with a free channel: a pooled one if any, else
    /// a new one. The bool says whether the connection is new.
    async fn lease(
        &self,
        device: &DevicePool,
        target: &SshTarget,
    ) -> Result<(Lease, bool), SshError> {
        if let Some(lease) = self.pick(device) {
            return Ok((lease, false));
        }
        let asked_at = Instant::now();
        let _connecting = device.connecting.lock().await;
        if let Some(lease) = self.pick(device) {
            return Ok((lease, false));
        }
        if let Some((at, err)) = lock(&device.last_failure).as_ref()
            && *at >= asked_at
        {
            return Err(err.clone());
        }
        match self.connect(target).await {
            Ok(handle) => {
                self.inner
                    .connections_opened
                    .fetch_add(1, Ordering::Relaxed);
                let conn = Arc::new(Connection {
                    handle,
                    in_use: AtomicUsize::new(1),
                    last_used: Mutex::new(Instant::now()),
                    idle: Mutex::new(Vec::new()),
                });
                lock(&device.conns).push(Arc::clone(&conn));
                *lock(&device.last_failure) = None;
                Ok((Lease::new(conn), true))
            }
            Err(err) => {
                self.inner.connect_failures.fetch_add(1, Ordering::Relaxed);
                *lock(&device.last_failure) = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }

    /// Claims a channel on the first live pooled connection with room,
    /// dropping dead ones on the way. A connection whose room is taken by
    /// idle resident shells gives one up.
    fn pick(&self, device: &DevicePool) -> Option<Lease> {
        let max = self.inner.config.channels_per_connection();
        let mut conns = lock(&device.conns);
        conns.retain(|c| !c.handle.is_closed());
        if let Some(conn) = conns
            .iter()
            .find(|c| c.in_use.load(Ordering::Acquire) < max)
        {
            conn.in_use.fetch_add(1, Ordering::AcqRel);
            return Some(Lease::new(Arc::clone(conn)));
        }
        conns.iter().find_map(|c| {
            // The idle shell's claim on the channel passes to the new lease;
            // dropping it closes its channel.
            drop(lock(&c.idle).pop()?);
            Some(Lease::new(Arc::clone(c)))
        })
    }

    fn drop_connection(&self, device: &DevicePool, conn: &Arc<Connection>) {
        lock(&device.conns).retain(|c| !Arc::ptr_eq(c, conn));
    }

    /// TCP connect, key exchange with host-key verification, authentication;
    /// all within the connect timeout.
    async fn connect(&self, target: &SshTarget) -> Result<Handle<Client>, SshError> {
        let timeout = self.inner.config.connect_timeout();
        match tokio::time::timeout(timeout, self.connect_inner(target)).await {
            Ok(result) => result,
            Err(_) => Err(SshError::DeviceOffline {
                device: target.name.clone(),
                reason: format!("no SSH session within {}ms", timeout.as_millis()),
            }),
        }
    }

    async fn connect_inner(&self, target: &SshTarget) -> Result<Handle<Client>, SshError> {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| tcp_error(target, &e))?;
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "set_nodelay failed");
        }
        let handler = Client {
            inner: Arc::downgrade(&self.inner),
            target: target.clone(),
        };
        let mut handle = client::connect_stream(Arc::clone(&self.inner.russh), stream, handler)
            .await
            .map_err(|e| match e {
                ClientError::HostKey(err) => err,
                ClientError::Ssh(e) => {
                    warn!(device = %target.name, error = %e, "ssh handshake failed");
                    SshError::ConnectFailed {
                        device: target.name.clone(),
                        reason: format!("ssh handshake failed: {e}"),
                    }
                }
            })?;
        self.authenticate(&mut handle, target).await?;
        debug!(device = %target.name, "connected");
        Ok(handle)
    }

    async fn authenticate(
        &self,
        handle: &mut Handle<Client>,
        target: &SshTarget,
    ) -> Result<(), SshError> {
        let config = &self.inner.config;
        let auth_failed = |reason: &str| SshError::AuthFailed {
            device: target.name.clone(),
            reason: reason.into(),
        };
        let lost = |e: russh::Error| {
            warn!(device = %target.name, error = %e, "connection lost during authentication");
            SshError::ConnectFailed {
                device: target.name.clone(),
                reason: "the connection closed during authentication".into(),
            }
        };
        let mut offered = false;
        if let Some(path) = target
            .key_path
            .as_deref()
            .or(config.identity_file.as_deref())
        {
            let key = self.load_key(path).map_err(|e| {
                warn!(device = %target.name, path = %path.display(), error = %e,
                      "cannot load private key");
                auth_failed("the configured private key could not be loaded")
            })?;
            let hash = if key.algorithm().is_rsa() {
                match handle.best_supported_rsa_hash().await {
                    Ok(Some(hash)) => hash,
                    _ => Some(HashAlg::Sha256),
                }
            } else {
                None
            };
            offered = true;
            let result = handle
                .authenticate_publickey(&target.username, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(lost)?;
            if result.success() {
                return Ok(());
            }
        }
        // Set when the agent was asked and had nothing to offer, so the
        // error says what to fix.
        let mut agent_problem = None;
        if config.use_agent || target.use_agent {
            let agent = match config.agent_socket.as_deref() {
                Some(socket) => AgentClient::connect_uds(socket).await,
                None => AgentClient::connect_env().await,
            };
            match agent {
                Ok(mut agent) => {
                    let identities = agent.request_identities().await.unwrap_or_else(|e| {
                        warn!(error = %e, "ssh-agent did not list identities");
                        Vec::new()
                    });
                    if identities.is_empty() {
                        agent_problem = Some("the ssh-agent holds no keys");
                    }
                    for identity in identities {
                        let AgentIdentity::PublicKey { key, .. } = identity else {
                            continue;
                        };
                        offered = true;
                        let hash = key.algorithm().is_rsa().then_some(HashAlg::Sha256);
                        match handle
                            .authenticate_publickey_with(&target.username, key, hash, &mut agent)
                            .await
                        {
                            Ok(result) if result.success() => return Ok(()),
                            Ok(_) => {}
                            Err(e) => debug!(error = ?e, "ssh-agent signing failed"),
                        }
                        if handle.is_closed() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    warn!(device = %target.name, socket = ?config.agent_socket, error = %e,
                          "cannot reach ssh-agent (agent_socket, else SSH_AUTH_SOCK)");
                    agent_problem = Some("the ssh-agent is unreachable");
                }
            }
        }
        Err(auth_failed(match (offered, agent_problem) {
            (true, _) => "the device refused every configured key",
            (false, Some(problem)) => problem,
            (false, None) => {
                "no credentials are configured (identity_file, a device key_path, or the agent)"
            }
        }))
    }

    fn load_key(&self, path: &Path) -> Result<Arc<PrivateKey>, russh::keys::Error> {
        if let Some(key) = lock(&self.inner.keys).get(path) {
            return Ok(Arc::clone(key));
        }
        let passphrase = self
            .inner
            .config
            .identity_passphrase
            .as_ref()
            .map(|s| s.expose());
        let key = Arc::new(russh::keys::load_secret_key(path, passphrase)?);
        lock(&self.inner.keys).insert(path.to_owned(), Arc::clone(&key));
        Ok(key)
    }
}

fn tcp_error(target: &SshTarget, e: &std::io::Error) -> SshError {
    use std::io::ErrorKind;
    let device = target.name.clone();
    match e.kind() {
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable | ErrorKind::TimedOut => {
            SshError::DeviceOffline {
                device,
                reason: format!("network: {e}"),
            }
        }
        _ => SshError::ConnectFailed {
            device,
            reason: format!("tcp connect: {e}"),
        },
    }
}

fn close(conn: Arc<Connection>) {
    tokio::spawn(async move {
        let _ = conn
            .handle
            .disconnect(Disconnect::ByApplication, "idle", "en")
            .await;
    });
}

/// Closes connections that have carried no channel for `idle_expiry_ms`,
/// and forgets device pools left empty. Ends with the pool.
async fn sweep_idle(inner: Weak<Inner>) {
    let interval = match inner.upgrade() {
        Some(i) => (i.config.idle_expiry() / 2).clamp(MIN_SWEEP_INTERVAL, MAX_SWEEP_INTERVAL),
        None => return,
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        let idle = inner.config.idle_expiry();
        let mut devices = lock(&inner.devices);
        for pool in devices.values() {
            let mut conns = lock(&pool.conns);
            let (expired, kept): (Vec<_>, Vec<_>) = conns.drain(..).partition(|c| {
                c.handle.is_closed() || (c.active() == 0 && lock(&c.last_used).elapsed() >= idle)
            });
            *conns = kept;
            for conn in expired {
                debug!("closing idle connection");
                close(conn);
            }
        }
        devices.retain(|_, pool| Arc::strong_count(pool) > 1 || !lock(&pool.conns).is_empty());
    }
}

/// Why `connect_stream` failed: our host-key verdict, or russh's error.
#[derive(Debug)]
enum ClientError {
    HostKey(SshError),
    Ssh(russh::Error),
}

impl From<russh::Error> for ClientError {
    fn from(e: russh::Error) -> Self {
        ClientError::Ssh(e)
    }
}

/// The russh handler: verifies the server's host key for one target.
struct Client {
    inner: Weak<Inner>,
    target: SshTarget,
}

impl client::Handler for Client {
    type Error = ClientError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let Some(inner) = self.inner.upgrade() else {
            return Ok(false);
        };
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_public_key else {
            // Certificate host keys are never advertised by this client.
            return Ok(false);
        };
        hostkeys::verify(
            inner.store.as_ref(),
            inner.config.host_key_policy,
            inner.config.known_hosts_file.as_deref(),
            &self.target,
            key,
        )
        .await
        .map(|()| true)
        .map_err(ClientError::HostKey)
    }
}
