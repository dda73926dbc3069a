//! The registry's REST API, mounted by the server under `/api/devices`.
//!
//! | method | path    | needs        | answer |
//! |--------|---------|--------------|--------|
//! | GET    | `/`     | `can_read`   | 200 `{"devices": [...], "total": N}`; query `type`, `status`, `tag`, `search`, `limit`, `offset` |
//! | POST   | `/`     | `can_admin`  | 201 + `Location`, the device |
//! | GET    | `/{id}` | `can_read`   | 200 the device (`{id}` is an id or a name) |
//! | PUT    | `/{id}` | `can_admin`  | 200 the device, fully replaced |
//! | PATCH  | `/{id}` | `can_admin`  | 200 the device, partially updated |
//! | DELETE | `/{id}` | `can_admin`  | 204 |
//!
//! Every failure is `{"error": {"code", "message", "fields"?}}`; see [`ApiError`].

use std::marker::PhantomData;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use toolhost_runtime::caps::devices::{DeviceFilter, DeviceStatus};

use crate::model::{DevicePatch, DeviceRecord, FieldError, NewDevice};
use crate::repo::{DeviceRecordPage, DeviceRepo, RepoError};

/// What the registry needs to know about the caller. The auth middleware puts
/// a value of the implementing type into the request extensions; the server
/// implements this trait for its principal type.
pub trait CallerScopes {
    /// May list and read devices.
    fn can_read(&self) -> bool;
    /// May create, change and delete devices.
    fn can_admin(&self) -> bool;
}

/// The registry's routes, relative to their mount point, with `repo` as
/// state. Mount with `Router::nest("/api/devices", router::<Principal>(repo))`;
/// a request without a `P` extension gets 401.
pub fn router<P>(repo: DeviceRepo) -> Router
where
    P: CallerScopes + Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(list::<P>).post(create::<P>))
        .route(
            "/{id}",
            get(show::<P>)
                .put(replace::<P>)
                .patch(update::<P>)
                .delete(remove::<P>),
        )
        .with_state(repo)
}

/// Query string of the list endpoint.
#[derive(Debug, Deserialize)]
struct ListParams {
    #[serde(rename = "type")]
    device_type: Option<String>,
    status: Option<String>,
    tag: Option<String>,
    search: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list<P: CallerScopes + Clone + Send + Sync + 'static>(
    _: Reader<P>,
    State(repo): State<DeviceRepo>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<DeviceRecordPage>, ApiError> {
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(DeviceStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_field(
                "status",
                "must be one of 'online', 'offline', 'unknown', 'maintenance'",
            )
        })?),
    };
    let filter = DeviceFilter {
        device_type: params.device_type,
        status,
        tag: params.tag,
        search: params.search,
        limit: params.limit,
        offset: params.offset,
    };
    Ok(Json(repo.list(&filter).await?))
}

async fn create<P: CallerScopes + Clone + Send + Sync + 'static>(
    _: Admin<P>,
    State(repo): State<DeviceRepo>,
    OriginalUri(uri): OriginalUri,
    ApiJson(new): ApiJson<NewDevice>,
) -> Result<Response, ApiError> {
    let record = repo.create(new).await?;
    // The original URI carries the server's mount point, which this router
    // does not know.
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), record.device.id);
    let location = HeaderValue::try_from(location).map_err(|e| ApiError::internal(e.into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(record),
    )
        .into_response())
}

async fn show<P: CallerScopes + Clone + Send + Sync + 'static>(
    _: Reader<P>,
    State(repo): State<DeviceRepo>,
    Path(id): Path<String>,
) -> Result<Json<DeviceRecord>, ApiError> {
    repo.get(&id).await?.map(Json).ok_or(ApiError::NotFound)
}

async fn replace<P: CallerScopes + Clone + Send + Sync + 'static>(
    _: Admin<P>,
    State(repo): State<DeviceRepo>,
    Path(id): Path<String>,
    ApiJson(device): ApiJson<NewDevice>,
) -> Result<Json<DeviceRecord>, ApiError> {
    Ok(Json(repo.replace(&id, device).await?))
}

async fn update<P: CallerScopes + Clone + Send + Sync + 'static>(
    _: Admin<P>,
    State(repo): State<DeviceRepo>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<DevicePatch>,
) -> Result<Json<DeviceRecord>, ApiError> {
    Ok(Json(repo.update(&id, patch).await?))
}

async fn remove<P: CallerScopes + Clone + Send + Sync + 'static>(
    _: Admin<P>,
    State(repo): State<DeviceRepo>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if repo.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(RepoError::NotFound.into())
    }
}

/// Proof that the caller may read. As an extractor it runs before the body
/// is parsed, so an unauthorised caller learns nothing from validation.
struct Reader<P>(PhantomData<P>);

/// Proof that the caller may change the registry.
struct Admin<P>(PhantomData<P>);

fn caller<P: Clone + Send + Sync + 'static>(parts: &Parts) -> Result<P, ApiError> {
    parts
        .extensions
        .get::<P>()
        .cloned()
        .ok_or(ApiError::Unauthenticated)
}

impl<P, S> FromRequestParts<S> for Reader<P>
where
    P: CallerScopes + Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if caller::<P>(parts)?.can_read() {
            Ok(Reader(PhantomData))
        } else {
            Err(ApiError::Forbidden("reading the device registry"))
        }
    }
}

impl<P, S> FromRequestParts<S> for Admin<P>
where
    P: CallerScopes + Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if caller::<P>(parts)?.can_admin() {
            Ok(Admin(PhantomData))
        } else {
            Err(ApiError::Forbidden("changing the device registry"))
        }
    }
}

/// `Json<T>` whose rejections use the registry's error shape.
struct ApiJson<T>(T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(value)| ApiJson(value))
            .map_err(ApiError::from)
    }
}

/// `Query<T>` whose rejections use the registry's error shape.
struct ApiQuery<T>(T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::Validation {
                message: rejection.body_text(),
                fields: Vec::new(),
            })
    }
}

/// A REST failure. Each variant fixes the status and the `code` clients
/// branch on; internal causes are logged, never sent.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `bad_request`: the body is not JSON at all.
    BadRequest(String),
    /// 401 `unauthenticated`: no caller identity reached the handler.
    Unauthenticated,
    /// 403 `forbidden`: the caller lacks the scope for this action.
    Forbidden(&'static str),
    /// 404 `not_found`.
    NotFound,
    /// 409 `conflict`: a unique field is taken.
    Conflict { field: &'static str },
    /// 415 `unsupported_media_type`: the body is not declared as JSON.
    UnsupportedMediaType,
    /// 422 `validation_failed`, with every bad field.
    Validation {
        message: String,
        fields: Vec<FieldError>,
    },
    /// 500 `internal`.
    Internal,
}

impl ApiError {
    fn invalid_field(field: &str, message: &str) -> Self {
        ApiError::Validation {
            message: format!("{field}: {message}"),
            fields: vec![FieldError {
                field: field.to_owned(),
                message: message.to_owned(),
            }],
        }
    }

    fn internal(cause: anyhow::Error) -> Self {
        tracing::error!(error = ?cause, "device registry request failed");
        ApiError::Internal
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::NotFound => ApiError::NotFound,
            RepoError::Duplicate { field } => ApiError::Conflict { field },
            RepoError::Invalid(errors) => ApiError::Validation {
                message: errors.to_string(),
                fields: errors.0,
            },
            RepoError::Db(cause) => ApiError::internal(cause),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(err) => {
                // Name the offending field when serde tracked its path.
                let located =
                    std::iter::successors(std::error::Error::source(&err), |e| e.source())
                        .find_map(|e| {
                            e.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>()
                        });
                match located {
                    Some(e) if e.path().to_string() != "." => {
                        ApiError::invalid_field(&e.path().to_string(), &e.inner().to_string())
                    }
                    Some(e) => ApiError::Validation {
                        message: e.inner().to_string(),
                        fields: Vec::new(),
                    },
                    None => ApiError::Validation {
                        message: err.body_text(),
                        fields: Vec::new(),
                    },
                }
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    fields: &'a [FieldError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, fields) = match &self {
            ApiError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                m.clone(),
                Vec::new(),
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "authentication required".to_owned(),
                Vec::new(),
            ),
            ApiError::Forbidden(action) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("your token does not allow {action}"),
                Vec::new(),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no device has that id or name".to_owned(),
                Vec::new(),
            ),
            ApiError::Conflict { field } => (
                StatusCode::CONFLICT,
                "conflict",
                format!("a device with this {field} already exists"),
                vec![FieldError {
                    field: (*field).to_owned(),
                    message: "is already taken".to_owned(),
                }],
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with Content-Type: application/json".to_owned(),
                Vec::new(),
            ),
            ApiError::Validation { message, fields } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message.clone(),
                fields.clone(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".to_owned(),
                Vec::new(),
            ),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: &message,
                fields: &fields,
            },
        };
        (status, Json(body)).into_response()
    }
}
