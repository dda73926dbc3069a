//! The runtime's view of the registry: [`DeviceDirectory`] over [`DeviceRepo`].

use toolhost_runtime::caps::devices::{
    BoxFuture, Device, DeviceDirectory, DeviceFilter, DevicePage, DirectoryError,
};

use crate::repo::{DeviceRepo, RepoError};

impl DeviceDirectory for DeviceRepo {
    fn list(&self, filter: DeviceFilter) -> BoxFuture<'_, Result<DevicePage, DirectoryError>> {
        Box::pin(async move {
            let page = DeviceRepo::list(self, &filter)
                .await
                .map_err(directory_error)?;
            Ok(DevicePage {
                devices: page.devices.into_iter().map(|r| r.device).collect(),
                total: page.total,
            })
        })
    }

    fn get<'a>(
        &'a self,
        id_or_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Device>, DirectoryError>> {
        Box::pin(async move {
            let record = DeviceRepo::get(self, id_or_name)
                .await
                .map_err(directory_error)?;
            Ok(record.map(|r| r.device))
        })
    }
}

/// Filter problems go back to the plugin as data; store failures are logged
/// here in full and reach the plugin only as a generic message.
fn directory_error(err: RepoError) -> DirectoryError {
    match err {
        RepoError::Invalid(errors) => DirectoryError::InvalidFilter(errors.to_string()),
        RepoError::NotFound | RepoError::Duplicate { .. } => {
            DirectoryError::Unavailable("unexpected registry answer".into())
        }
        RepoError::Db(source) => {
            tracing::error!(error = ?source, "device directory query failed");
            DirectoryError::Unavailable("database error".into())
        }
    }
}
