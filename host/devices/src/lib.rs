//! The device registry: the `devices` table, its validation, its REST API and
//! the runtime's read-only view of it.
//!
//! - [`model`]: input ([`NewDevice`], [`DevicePatch`]), output
//!   ([`DeviceRecord`]) and validation that reports every bad field at once.
//! - [`repo`]: [`DeviceRepo`], typed CRUD over [`toolhost_db::Database`].
//! - `directory`: `impl DeviceDirectory for DeviceRepo`, what plugins reach
//!   through the `devices` capability.
//! - [`http`]: [`router`], the REST API the server nests at `/api/devices`,
//!   authorised through [`CallerScopes`].

mod directory;
pub mod host_keys;
pub mod http;
pub mod model;
pub mod repo;

pub use http::{CallerScopes, router};
pub use model::{AuthMethod, DevicePatch, DeviceRecord, FieldError, NewDevice, ValidationErrors};
pub use repo::{DeviceRecordPage, DeviceRepo, RepoError};
