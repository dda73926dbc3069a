//! `DeviceRepo` and its `DeviceDirectory` view against real SQLite files.

use tempfile::TempDir;
use toolhost_db::Database;
use toolhost_devices::{AuthMethod, DevicePatch, DeviceRepo, NewDevice, RepoError};
use toolhost_runtime::caps::devices::{
    DeviceDirectory, DeviceFilter, DeviceStatus, MAX_DEVICES_PER_PAGE,
};

/// A repo over a fresh database file; keep the `TempDir` alive.
async fn repo() -> (DeviceRepo, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::connect(dir.path().join("toolhost.db").to_str().unwrap())
        .await
        .unwrap();
    (DeviceRepo::new(db), dir)
}

fn device(name: &str) -> NewDevice {
    NewDevice {
        name: name.into(),
        hostname: format!("{}.lan", name.to_lowercase()),
        ..NewDevice::default()
    }
}

/// Four devices with distinct types, statuses, tags and text.
async fn seeded() -> (DeviceRepo, TempDir) {
    let (repo, dir) = repo().await;
    for new in [
        NewDevice {
            device_type: Some("nas".into()),
            tags: vec!["storage".into(), "zfs".into()],
            location: Some("Basement rack".into()),
            status: Some("online".into()),
            ..device("nas-01")
        },
        NewDevice {
            tags: vec!["web".into(), "prod_a".into()],
            description: Some("Public reverse PROXY".into()),
            status: Some("online".into()),
            ..device("web-01")
        },
        NewDevice {
            tags: vec!["web".into()],
            status: Some("maintenance".into()),
            ..device("web-02")
        },
        NewDevice {
            device_type: Some("router".into()),
            tags: vec!["prodxa".into()],
            hostname: "10.0.0.1".into(),
            ..device("gw")
        },
    ] {
        repo.create(new).await.unwrap();
    }
    (repo, dir)
}

fn names(page: &toolhost_devices::DeviceRecordPage) -> Vec<&str> {
    page.devices
        .iter()
        .map(|r| r.device.name.as_str())
        .collect()
}

#[tokio::test]
async fn create_fills_defaults_and_the_device_reads_back_by_id_and_by_name() {
    let (repo, _dir) = repo().await;
    let created = repo.create(device("web-01")).await.unwrap();
    let d = &created.device;
    assert!(uuid::Uuid::try_parse(&d.id).is_ok(), "{}", d.id);
    assert_eq!(d.port, 22);
    assert_eq!(d.username, "root");
    assert_eq!(d.device_type, "linux");
    assert_eq!(d.status, DeviceStatus::Unknown);
    assert!(d.monitoring_enabled);
    assert_eq!(d.last_seen, None);
    assert_eq!(d.created_at, d.updated_at);
    assert_eq!(created.auth_method, AuthMethod::Agent);

    assert_eq!(repo.get(&d.id).await.unwrap(), Some(created.clone()));
    assert_eq!(repo.get("web-01").await.unwrap(), Some(created.clone()));
    assert_eq!(repo.get("web-02").await.unwrap(), None);
}

#[tokio::test]
async fn a_duplicate_name_is_reported_as_such() {
    let (repo, _dir) = repo().await;
    repo.create(device("web-01")).await.unwrap();
    let err = repo.create(device("web-01")).await.unwrap_err();
    assert!(
        matches!(err, RepoError::Duplicate { field: "name" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn create_lists_every_invalid_field_at_once() {
    let (repo, _dir) = repo().await;
    let err = repo
        .create(NewDevice {
            name: "bad name".into(),
            hostname: "host; rm -rf /".into(),
            port: Some(0),
            username: Some("9lives".into()),
            auth_method: Some("key".into()),
            tags: vec!["UPPER".into()],
            status: Some("sleeping".into()),
            ..NewDevice::default()
        })
        .await
        .unwrap_err();
    let RepoError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}")
    };
    assert_eq!(
        errors.fields().collect::<Vec<_>>(),
        [
            "name", "hostname", "port", "username", "key_path", "tags", "status"
        ]
    );
    assert_eq!(repo.list(&DeviceFilter::default()).await.unwrap().total, 0);
}

#[tokio::test]
async fn list_is_ordered_by_name_and_counts_before_paging() {
    let (repo, _dir) = seeded().await;
    let all = repo.list(&DeviceFilter::default()).await.unwrap();
    assert_eq!(names(&all), ["gw", "nas-01", "web-01", "web-02"]);
    assert_eq!(all.total, 4);

    let page = repo
        .list(&DeviceFilter {
            limit: Some(2),
            offset: Some(1),
            ..DeviceFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(names(&page), ["nas-01", "web-01"]);
    assert_eq!(page.total, 4);

    let past_the_end = repo
        .list(&DeviceFilter {
            offset: Some(10),
            ..DeviceFilter::default()
        })
        .await
        .unwrap();
    assert!(past_the_end.devices.is_empty());
    assert_eq!(past_the_end.total, 4);
}

#[tokio::test]
async fn list_filters_by_type_status_and_exact_tag() {
    let (repo, _dir) = seeded().await;
    let by = |f: DeviceFilter| {
        let repo = repo.clone();
        async move { repo.list(&f).await.unwrap() }
    };
    let page = by(DeviceFilter {
        device_type: Some("linux".into()),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(names(&page), ["web-01", "web-02"]);
    assert_eq!(page.total, 2);

    let page = by(DeviceFilter {
        status: Some(DeviceStatus::Online),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(names(&page), ["nas-01", "web-01"]);

    let page = by(DeviceFilter {
        tag: Some("web".into()),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(names(&page), ["web-01", "web-02"]);

    // `_` is a LIKE wildcard; the tag must still match only literally.
    let page = by(DeviceFilter {
        tag: Some("prod_a".into()),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(names(&page), ["web-01"]);

    // Part of a tag is not the tag.
    let page = by(DeviceFilter {
        tag: Some("stor".into()),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(page.total, 0);

    // Tags are lowercase; an uppercase filter matches nothing.
    let page = by(DeviceFilter {
        tag: Some("WEB".into()),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(page.total, 0);

    let page = by(DeviceFilter {
        device_type: Some("linux".into()),
        status: Some(DeviceStatus::Maintenance),
        tag: Some("web".into()),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(names(&page), ["web-02"]);
}

#[tokio::test]
async fn search_is_a_case_insensitive_substring_of_name_hostname_description_or_location() {
    let (repo, _dir) = seeded().await;
    let search = |s: &str| {
        let repo = repo.clone();
        let f = DeviceFilter {
            search: Some(s.into()),
            ..DeviceFilter::default()
        };
        async move { repo.list(&f).await.unwrap() }
    };
    assert_eq!(names(&search("WEB-0").await), ["web-01", "web-02"]);
    assert_eq!(names(&search("10.0.0").await), ["gw"]);
    assert_eq!(names(&search("proxy").await), ["web-01"]);
    assert_eq!(names(&search("basement").await), ["nas-01"]);
    assert_eq!(search("%").await.total, 0);
    assert_eq!(search("nothing-like-this").await.total, 0);
}

#[tokio::test]
async fn an_overlong_search_is_invalid() {
    let (repo, _dir) = repo().await;
    let err = repo
        .list(&DeviceFilter {
            search: Some("x".repeat(toolhost_devices::repo::MAX_SEARCH_LEN + 1)),
            ..DeviceFilter::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn update_changes_only_the_patched_fields_and_bumps_updated_at() {
    let (repo, _dir) = repo().await;
    let created = repo
        .create(NewDevice {
            location: Some("rack 1".into()),
            description: Some("old box".into()),
            ..device("web-01")
        })
        .await
        .unwrap();
    let patch: DevicePatch =
        serde_json::from_str(r#"{"port": 2222, "tags": ["web"], "location": null}"#).unwrap();
    let updated = repo.update("web-01", patch).await.unwrap();
    assert_eq!(updated.device.id, created.device.id);
    assert_eq!(updated.device.port, 2222);
    assert_eq!(updated.device.tags, ["web"]);
    assert_eq!(updated.device.location, None);
    assert_eq!(updated.device.description.as_deref(), Some("old box"));
    assert_eq!(updated.device.hostname, created.device.hostname);
    assert_eq!(updated.device.created_at, created.device.created_at);
    assert!(updated.device.updated_at > created.device.updated_at);
    assert_eq!(
        repo.get(&created.device.id).await.unwrap(),
        Some(updated.clone())
    );
}

#[tokio::test]
async fn update_validates_the_merged_device() {
    let (repo, _dir) = repo().await;
    repo.create(device("web-01")).await.unwrap();
    let err = repo
        .update(
            "web-01",
            DevicePatch {
                auth_method: Some("key".into()),
                port: Some(99999),
                ..DevicePatch::default()
            },
        )
        .await
        .unwrap_err();
    let RepoError::Invalid(errors) = err else {
        panic!("expected Invalid, got {err:?}")
    };
    assert_eq!(errors.fields().collect::<Vec<_>>(), ["port", "key_path"]);
}

#[tokio::test]
async fn switching_to_agent_auth_drops_the_key_path() {
    let (repo, _dir) = repo().await;
    let created = repo
        .create(NewDevice {
            auth_method: Some("key".into()),
            key_path: Some("/etc/toolhost/keys/web".into()),
            ..device("web-01")
        })
        .await
        .unwrap();
    assert_eq!(created.auth_method, AuthMethod::Key);
    let updated = repo
        .update(
            "web-01",
            DevicePatch {
                auth_method: Some("agent".into()),
                ..DevicePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.auth_method, AuthMethod::Agent);
    assert_eq!(updated.key_path, None);
}

#[tokio::test]
async fn renaming_onto_a_taken_name_is_a_duplicate() {
    let (repo, _dir) = repo().await;
    repo.create(device("web-01")).await.unwrap();
    repo.create(device("web-02")).await.unwrap();
    let err = repo
        .update(
            "web-02",
            DevicePatch {
                name: Some("web-01".into()),
                ..DevicePatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepoError::Duplicate { field: "name" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn replace_resets_omitted_fields_to_defaults() {
    let (repo, _dir) = repo().await;
    let created = repo
        .create(NewDevice {
            port: Some(2222),
            tags: vec!["web".into()],
            ..device("web-01")
        })
        .await
        .unwrap();
    let replaced = repo
        .replace(&created.device.id, device("web-01"))
        .await
        .unwrap();
    assert_eq!(replaced.device.port, 22);
    assert!(replaced.device.tags.is_empty());
    assert_eq!(replaced.device.created_at, created.device.created_at);
}

#[tokio::test]
async fn concurrent_updates_all_land() {
    let (repo, _dir) = repo().await;
    repo.create(device("web-01")).await.unwrap();
    let tasks: Vec<_> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|tag| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.update(
                    "web-01",
                    DevicePatch {
                        description: Some(Some(tag.into())),
                        ..DevicePatch::default()
                    },
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn updating_or_deleting_an_unknown_device_says_not_found() {
    let (repo, _dir) = repo().await;
    let err = repo
        .update("ghost", DevicePatch::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::NotFound), "{err:?}");
    assert!(!repo.delete("ghost").await.unwrap());
}

#[tokio::test]
async fn delete_removes_the_device_by_id_or_name() {
    let (repo, _dir) = repo().await;
    let a = repo.create(device("web-01")).await.unwrap();
    repo.create(device("web-02")).await.unwrap();
    assert!(repo.delete(&a.device.id).await.unwrap());
    assert!(repo.delete("web-02").await.unwrap());
    assert_eq!(repo.get(&a.device.id).await.unwrap(), None);
    assert_eq!(repo.list(&DeviceFilter::default()).await.unwrap().total, 0);
}

#[tokio::test]
async fn the_directory_view_hides_access_settings_and_clamps_the_page() {
    let (repo, _dir) = seeded().await;
    let directory: std::sync::Arc<dyn DeviceDirectory> = std::sync::Arc::new(repo.clone());
    let page = directory
        .list(DeviceFilter {
            tag: Some("web".into()),
            limit: Some(MAX_DEVICES_PER_PAGE + 1),
            ..DeviceFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    let web01 = directory.get("web-01").await.unwrap().unwrap();
    assert_eq!(page.devices[0], web01);
    let json = serde_json::to_value(&web01).unwrap();
    assert!(json.get("key_path").is_none() && json.get("auth_method").is_none());
    assert_eq!(directory.get("ghost").await.unwrap(), None);
}
