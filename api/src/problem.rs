//! RFC 9457 problem details: the only error shape of the API.
//!
//! Every problem has a stable `type` URI (`https://raptscallions.app/problems/<slug>`, listed
//! in `docs/errors.md`), a title, the status, and an optional detail that never contains
//! internals: a 500 is logged with its cause and answered with a generic body.

use application::{CommandError, StoreError};
use poem::http::header::LOCATION;
use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::types::Type as _;
use poem_openapi::{ApiResponse, Object};

/// The base of every problem type URI.
pub const PROBLEM_BASE: &str = "https://raptscallions.app/problems/";

/// The content type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The JSON body of a problem of `kind`.
pub fn problem_body(kind: ProblemKind, detail: Option<String>) -> String {
    use poem_openapi::types::ToJSON as _;
    Problem::of(kind, detail).to_json_string()
}

/// A problem response of any `kind`, for the statuses no endpoint declares (they come from
/// the HTTP layer: 408 while reading a request, 414, 431): [`ApiError`] carries only the
/// statuses of the OpenAPI document.
pub fn problem_response(kind: ProblemKind, detail: Option<String>) -> Response {
    Response::builder()
        .status(kind.status())
        .content_type(PROBLEM_JSON)
        .body(problem_body(kind, detail))
}

/// A problem details object (RFC 9457).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "Problem", example)]
pub struct Problem {
    /// A URI identifying the problem type; stable, safe to branch on.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
}

impl Problem {
    /// The problem of `kind`, with this request's `detail` if any.
    pub fn of(kind: ProblemKind, detail: Option<String>) -> Self {
        Self {
            kind: kind.uri(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail,
        }
    }
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Self::of(ProblemKind::InvalidCredentials, None)
    }
}

/// Every kind of problem the API reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    MalformedRequest,
    InvalidParameter,
    InvalidRequest,
    InvisibleName,
    InvalidColor,
    InvalidLogoUrl,
    UnsupportedEmail,
    PayloadTooLarge,
    RequestTimeout,
    UriTooLong,
    RequestHeadersTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    Unauthenticated,
    Forbidden,
    CrossSiteRequest,
    InvalidCredentials,
    AccountDisabled,
    WrongPassword,
    EmailTaken,
    InvalidResetToken,
    ResetTokenExpired,
    TooManyRequests,
    LastSignInMethod,
    Conflict,
    GroupArchived,
    ClassArchived,
    ToolArchived,
    ToolNotAvailable,
    SessionCompleted,
    SessionPaused,
    AlreadyAcknowledged,
    ConcernResolved,
    AssignmentStatus,
    AssignmentNotOpen,
    SubmissionExists,
    SubmissionGraded,
    PastDue,
    SubmissionNotSubmitted,
    ScoreAboveMaximum,
    InvalidScore,
    InvalidEvidence,
    AssignmentNotFound,
    RealtimeHistoryGone,
    GroupCycle,
    LastAdmin,
    UserNotFound,
    GroupNotFound,
    ParentNotFound,
    ParentArchived,
    InvalidDateRange,
    ReadModelLagging,
    ServiceUnavailable,
    RealtimeUnavailable,
    Internal,
}

impl ProblemKind {
    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed-json",
            Self::MalformedRequest => "malformed-request",
            Self::RequestTimeout => "request-timeout",
            Self::UriTooLong => "uri-too-long",
            Self::RequestHeadersTooLarge => "request-headers-too-large",
            Self::InvalidParameter => "invalid-parameter",
            Self::InvalidRequest => "invalid-request",
            Self::InvisibleName => "invisible-name",
            Self::InvalidColor => "invalid-color",
            Self::InvalidLogoUrl => "invalid-logo-url",
            Self::UnsupportedEmail => "unsupported-email",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::CrossSiteRequest => "cross-site-request",
            Self::InvalidCredentials => "invalid-credentials",
            Self::AccountDisabled => "account-disabled",
            Self::WrongPassword => "wrong-password",
            Self::EmailTaken => "email-taken",
            Self::InvalidResetToken => "invalid-reset-token",
            Self::ResetTokenExpired => "reset-token-expired",
            Self::TooManyRequests => "too-many-requests",
            Self::LastSignInMethod => "last-sign-in-method",
            Self::Conflict => "conflict",
            Self::GroupArchived => "group-archived",
            Self::ClassArchived => "class-archived",
            Self::ToolArchived => "tool-archived",
            Self::ToolNotAvailable => "tool-not-available",
            Self::SessionCompleted => "session-completed",
            Self::SessionPaused => "session-paused",
            Self::AlreadyAcknowledged => "already-acknowledged",
            Self::ConcernResolved => "concern-resolved",
            Self::AssignmentStatus => "assignment-status",
            Self::AssignmentNotOpen => "assignment-not-open",
            Self::SubmissionExists => "submission-exists",
            Self::SubmissionGraded => "submission-graded",
            Self::PastDue => "past-due",
            Self::SubmissionNotSubmitted => "submission-not-submitted",
            Self::ScoreAboveMaximum => "score-above-maximum",
            Self::InvalidScore => "invalid-score",
            Self::InvalidEvidence => "invalid-evidence",
            Self::AssignmentNotFound => "assignment-not-found",
            Self::RealtimeHistoryGone => "realtime-history-gone",
            Self::GroupCycle => "group-cycle",
            Self::LastAdmin => "last-admin",
            Self::UserNotFound => "user-not-found",
            Self::GroupNotFound => "group-not-found",
            Self::ParentNotFound => "parent-not-found",
            Self::ParentArchived => "parent-archived",
            Self::InvalidDateRange => "invalid-date-range",
            Self::ReadModelLagging => "read-model-lagging",
            Self::ServiceUnavailable => "service-unavailable",
            Self::RealtimeUnavailable => "realtime-unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::MalformedRequest | Self::InvalidParameter => {
                StatusCode::BAD_REQUEST
            }
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::RequestHeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::InvalidRequest
            | Self::InvisibleName
            | Self::InvalidColor
            | Self::InvalidLogoUrl
            | Self::UnsupportedEmail
            | Self::GroupCycle
            | Self::ToolNotAvailable
            | Self::ScoreAboveMaximum
            | Self::InvalidScore
            | Self::InvalidEvidence
            | Self::AssignmentNotFound
            | Self::UserNotFound
            | Self::GroupNotFound
            | Self::ParentNotFound
            | Self::ParentArchived
            | Self::InvalidDateRange
            | Self::InvalidResetToken
            | Self::ResetTokenExpired => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::CrossSiteRequest
            | Self::AccountDisabled
            | Self::WrongPassword => StatusCode::FORBIDDEN,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::RealtimeHistoryGone => StatusCode::GONE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict
            | Self::GroupArchived
            | Self::ClassArchived
            | Self::ToolArchived
            | Self::SessionCompleted
            | Self::SessionPaused
            | Self::AlreadyAcknowledged
            | Self::ConcernResolved
            | Self::AssignmentStatus
            | Self::AssignmentNotOpen
            | Self::SubmissionExists
            | Self::SubmissionGraded
            | Self::PastDue
            | Self::SubmissionNotSubmitted
            | Self::LastAdmin
            | Self::LastSignInMethod => StatusCode::CONFLICT,
            Self::ReadModelLagging | Self::ServiceUnavailable | Self::RealtimeUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::MalformedJson => "The request body is not valid JSON",
            Self::MalformedRequest => "The request is not valid HTTP",
            Self::RequestTimeout => "The request was not received in time",
            Self::UriTooLong => "The request URI is too long",
            Self::RequestHeadersTooLarge => "The request headers are too large",
            Self::InvalidParameter => "A path or query parameter is invalid",
            Self::InvalidRequest => "The request body does not match the expected schema",
            Self::InvisibleName => "The name is invisible or hides characters",
            Self::InvalidColor => "The colour is not written #rrggbb",
            Self::InvalidLogoUrl => "The logo URL is not an https URL",
            Self::UnsupportedEmail => "The email address has characters that are not accepted",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "The request content type is not supported",
            Self::NotFound => "The resource was not found",
            Self::MethodNotAllowed => "The method is not allowed on this resource",
            Self::Unauthenticated => "Sign in first: no valid session was presented",
            Self::Forbidden => "You are not allowed to do this",
            Self::CrossSiteRequest => "Cross-site request refused",
            Self::InvalidCredentials => "Invalid email or password",
            Self::AccountDisabled => "The account is disabled",
            Self::WrongPassword => "The current password is wrong",
            Self::EmailTaken => "An account with this email already exists",
            Self::InvalidResetToken => "The reset token is not valid",
            Self::ResetTokenExpired => "The reset token has expired",
            Self::TooManyRequests => "Too many requests; retry later",
            Self::LastSignInMethod => "Unlinking would leave the account no way to sign in",
            Self::Conflict => "The resource was changed concurrently; reload and retry",
            Self::GroupArchived => "The group is archived",
            Self::ClassArchived => "The class is archived",
            Self::ToolArchived => "The tool is archived",
            Self::ToolNotAvailable => "The tool is not offered to this class",
            Self::SessionCompleted => "The learning session is completed",
            Self::SessionPaused => "The learning session is paused",
            Self::AlreadyAcknowledged => "The safety concern is already acknowledged",
            Self::ConcernResolved => "The safety concern is resolved",
            Self::AssignmentStatus => "The assignment's status does not allow this",
            Self::AssignmentNotOpen => "The assignment takes no submissions",
            Self::SubmissionExists => "You already have a submission for this assignment",
            Self::SubmissionGraded => "The submission is graded and can no longer change",
            Self::PastDue => "The due time has passed: the submission can no longer change",
            Self::SubmissionNotSubmitted => "The submission has not been submitted",
            Self::ScoreAboveMaximum => "The score is above the assignment's maximum",
            Self::InvalidScore => "The score does not fit how the assignment is graded",
            Self::InvalidEvidence => {
                "A learning session given as evidence is not one of yours in this class"
            }
            Self::AssignmentNotFound => "The assignment does not exist in this class",
            Self::RealtimeHistoryGone => {
                "The updates asked for are no longer kept; reload the snapshot"
            }
            Self::GroupCycle => "A group cannot move into its own subtree",
            Self::LastAdmin => {
                "The last admin of a top-level group can only be removed by a system admin"
            }
            Self::UserNotFound => "The user does not exist",
            Self::GroupNotFound => "The group does not exist",
            Self::ParentNotFound => "The parent group does not exist",
            Self::ParentArchived => "The parent group is archived",
            Self::InvalidDateRange => "The range of days is not one that can be reported",
            Self::ReadModelLagging => "The change was recorded but is not readable yet",
            Self::ServiceUnavailable => "A service the API depends on is unavailable",
            Self::RealtimeUnavailable => "Live updates are not configured on this server",
            Self::Internal => "Internal server error",
        }
    }

    pub fn uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }
}

/// What a write that was recorded says when its read model did not catch up in time: the
/// position it reached, and where to read the result once the read model has passed it.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "Committed", example)]
pub struct Committed {
    /// The log position the write reached (also in the `Rapt-Position` header).
    pub position: i64,
    /// Where the written resource is read (also the `Location` header); null when the
    /// operation has none.
    #[oai(nullable)]
    pub location: Option<String>,
    pub detail: String,
}

impl poem_openapi::types::Example for Committed {
    fn example() -> Self {
        Self {
            position: 48_213,
            location: Some("/groups/0193b2a4-5c1d-7e2f-8a3b-4c5d6e7f8a9b".to_owned()),
            detail: "the change was recorded; its result is not readable yet: read it again \
                     shortly, do not repeat the write"
                .to_owned(),
        }
    }
}

/// The problems of every endpoint: one response per status, all `application/problem+json`.
#[derive(Debug, ApiResponse)]
pub enum ProblemResponse {
    /// Malformed JSON or an invalid parameter.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// The resource does not exist.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// No valid session, or wrong credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Signed in, but not allowed; or a cross-site cookie request.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// Rate limited or throttled; retry after `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// The method is not allowed on this path.
    #[oai(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Json<Problem>),
    /// Concurrent modification or a state that forbids the change.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// What was asked for is no longer kept (live updates older than the retention).
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
    /// The body exceeds `MAX_BODY_BYTES`.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not JSON.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Well-formed JSON that does not fit the schema or the rules.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Unexpected failure; details are logged, never returned.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The database is unreachable, or a read model is behind.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

/// The error half of every endpoint: a problem, or the one 2xx on the error side, a write
/// recorded before its read model caught up ([`ApiError::accepted`]).
#[derive(Debug)]
pub enum ApiError {
    Problem(ProblemResponse),
    /// The write was recorded, but its read model did not reflect it within
    /// `READ_YOUR_WRITES_TIMEOUT_MS`: `202 Accepted` with what was committed (headers
    /// `Rapt-Position` and, when known, `Location`). Not derived: the document declares it on
    /// the write operations only (`openapi::document`), so that it does not shadow an
    /// operation's own 202.
    Accepted(Committed),
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        ProblemResponse::meta()
    }

    fn register(registry: &mut Registry) {
        ProblemResponse::register(registry);
        Committed::register(registry);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Problem(problem) => problem.into_response(),
            Self::Accepted(committed) => {
                let mut response = Json(committed.clone()).into_response();
                response.set_status(StatusCode::ACCEPTED);
                response
                    .headers_mut()
                    .insert("rapt-position", committed.position.into());
                if let Some(location) = committed
                    .location
                    .as_deref()
                    .and_then(|l| HeaderValue::from_str(l).ok())
                {
                    response.headers_mut().insert(LOCATION, location);
                }
                response
            }
        }
    }
}

impl From<ApiError> for poem::Error {
    fn from(error: ApiError) -> Self {
        poem::Error::from_response(error.into_response())
    }
}

impl From<ProblemResponse> for ApiError {
    fn from(problem: ProblemResponse) -> Self {
        Self::Problem(problem)
    }
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<Option<String>>) -> Self {
        Self::Problem(ProblemResponse::new(kind, detail))
    }

    pub fn kind(kind: ProblemKind) -> Self {
        Self::new(kind, None)
    }

    /// A 500 whose cause is logged here and never shown.
    pub fn internal(cause: &dyn std::fmt::Debug) -> Self {
        tracing::error!(cause = ?cause, "internal error");
        Self::kind(ProblemKind::Internal)
    }

    /// 429 with `Retry-After` (whole seconds, at least 1).
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        match ProblemResponse::new(
            ProblemKind::TooManyRequests,
            format!("retry in {seconds} s"),
        ) {
            ProblemResponse::TooManyRequests(problem, _) => {
                Self::Problem(ProblemResponse::TooManyRequests(problem, seconds))
            }
            other => Self::Problem(other),
        }
    }

    /// 202: the write reached `position` and its read model is behind.
    pub fn accepted(position: i64) -> Self {
        Self::Accepted(Committed {
            position,
            location: None,
            detail: "the change was recorded; its result is not readable yet: read it again \
                     shortly, do not repeat the write"
                .to_owned(),
        })
    }

    /// Where the written resource is read, for a 202 ([`accepted`](Self::accepted)); other
    /// errors are returned as they are.
    pub fn located(self, location: impl Into<String>) -> Self {
        match self {
            Self::Accepted(committed) => Self::Accepted(Committed {
                location: Some(location.into()),
                ..committed
            }),
            other => other,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ProblemKind::NotFound, format!("{what} not found"))
    }

    /// The problem, for every error but a 202.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Problem(problem) => Some(problem.problem()),
            Self::Accepted(_) => None,
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Self::Problem(problem) => problem.problem().status,
            Self::Accepted(_) => 202,
        }
    }
}

impl ProblemResponse {
    fn new(kind: ProblemKind, detail: impl Into<Option<String>>) -> Self {
        let problem = Json(Problem::of(kind, detail.into()));
        match kind.status().as_u16() {
            400 => Self::BadRequest(problem),
            401 => Self::Unauthorized(problem),
            403 => Self::Forbidden(problem),
            404 => Self::NotFound(problem),
            429 => Self::TooManyRequests(problem, 1),
            405 => Self::MethodNotAllowed(problem),
            409 => Self::Conflict(problem),
            410 => Self::Gone(problem),
            413 => Self::PayloadTooLarge(problem),
            415 => Self::UnsupportedMediaType(problem),
            422 => Self::Unprocessable(problem),
            503 => Self::Unavailable(problem),
            _ => Self::Internal(problem),
        }
    }

    fn problem(&self) -> &Problem {
        match self {
            Self::BadRequest(p)
            | Self::NotFound(p)
            | Self::Unauthorized(p)
            | Self::Forbidden(p)
            | Self::TooManyRequests(p, _)
            | Self::MethodNotAllowed(p)
            | Self::Conflict(p)
            | Self::Gone(p)
            | Self::PayloadTooLarge(p)
            | Self::UnsupportedMediaType(p)
            | Self::Unprocessable(p)
            | Self::Internal(p)
            | Self::Unavailable(p) => &p.0,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "database unavailable");
                Self::kind(ProblemKind::ServiceUnavailable)
            }
            StoreError::Internal(cause) => Self::internal(&cause),
        }
    }
}

/// A read-your-writes wait that failed: the database, or a read model that did not catch up
/// in time (the write itself is recorded).
impl From<projections::WaitError> for ApiError {
    fn from(error: projections::WaitError) -> Self {
        match error {
            projections::WaitError::Store(e) => e.into(),
            error => {
                tracing::warn!(%error, "read model did not catch up in time");
                Self::new(
                    ProblemKind::ReadModelLagging,
                    "the change was recorded; read it again shortly".to_owned(),
                )
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}

/// Maps the generic part of a command error; the caller maps the rejections.
pub fn command_error<E: std::error::Error + 'static>(
    error: CommandError<E>,
    rejected: impl FnOnce(E) -> ApiError,
) -> ApiError {
    match error {
        CommandError::Rejected(e) => rejected(e),
        CommandError::Conflict => conflict(),
        CommandError::Store(e) => e.into(),
    }
}

/// A name refused at the edge, as `field`: `invisible-name` when it does not show what it
/// says (a format character, or no visible one: `domain::name`), `invalid-request` for the
/// other rules (empty, too long, control characters), as before that rule.
fn name_error(
    field: &str,
    error: &dyn std::fmt::Display,
    unreadable: Option<domain::name::UnreadableName>,
) -> ApiError {
    use domain::name::UnreadableName;
    let kind = match unreadable {
        Some(UnreadableName::FormatCharacters | UnreadableName::NoVisibleCharacter) => {
            ProblemKind::InvisibleName
        }
        Some(UnreadableName::ControlCharacters) | None => ProblemKind::InvalidRequest,
    };
    ApiError::new(kind, format!("{field}: {error}"))
}

/// A group, class or tool name refused at the edge.
pub fn group_name_error(error: domain::group::InvalidGroupName) -> ApiError {
    named_field_error("name", error)
}

/// A name under the group-name rules refused at the edge, as `field` (an assignment's
/// title, a theme's display name).
pub fn named_field_error(field: &str, error: domain::group::InvalidGroupName) -> ApiError {
    let unreadable = match &error {
        domain::group::InvalidGroupName::Unreadable(u) => Some(*u),
        _ => None,
    };
    name_error(field, &error, unreadable)
}

/// A person's name refused at the edge.
pub fn display_name_error(error: domain::user::InvalidDisplayName) -> ApiError {
    let unreadable = match &error {
        domain::user::InvalidDisplayName::Unreadable(u) => Some(*u),
        _ => None,
    };
    name_error("name", &error, unreadable)
}

/// An email refused at the edge, as `field`: `unsupported-email` when its local part has
/// characters outside the accepted ASCII set (they could imitate another address),
/// `invalid-request` when it is not an address at all.
pub fn email_error(field: &str, error: domain::user::InvalidEmail) -> ApiError {
    let kind = match error {
        domain::user::InvalidEmail::UnsupportedCharacters => ProblemKind::UnsupportedEmail,
        _ => ProblemKind::InvalidRequest,
    };
    ApiError::new(kind, format!("{field}: {error}"))
}

/// A service account's name refused by its aggregate.
pub fn service_account_name_error(error: domain::name::UnreadableName) -> ApiError {
    name_error("name", &error, Some(error))
}

fn conflict() -> ApiError {
    ApiError::new(
        ProblemKind::Conflict,
        "another request changed this resource at the same time".to_owned(),
    )
}

/// Turns any error that reached the top of the route tree into a problem response:
/// framework errors (unknown route, wrong method, unparsable body or parameter) get their
/// problem type here; responses that already are problems pass through untouched.
pub async fn catch_all(error: poem::Error) -> Response {
    use poem_openapi::error::{ContentTypeError, ParseParamError, ParseRequestPayloadError};
    let status = error.status();
    let kind = if error.is::<ParseRequestPayloadError>() {
        // JSON syntax was checked by the body guard before: this is a schema mismatch.
        Some((
            ProblemKind::InvalidRequest,
            Some(sanitize(&error.to_string())),
        ))
    } else if error.is::<ParseParamError>() {
        Some((
            ProblemKind::InvalidParameter,
            Some(sanitize(&error.to_string())),
        ))
    } else if error.is::<ContentTypeError>() {
        Some((
            ProblemKind::UnsupportedMediaType,
            Some("send the body as application/json".to_owned()),
        ))
    } else if status == StatusCode::NOT_FOUND && error.is::<poem::error::NotFoundError>() {
        Some((ProblemKind::NotFound, None))
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        Some((ProblemKind::MethodNotAllowed, None))
    } else {
        None
    };
    if let Some((kind, detail)) = kind {
        return ApiError::new(kind, detail).into_response();
    }
    let response = error.into_response();
    let is_problem = response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    // Problems, and the one 2xx on the error side: a write recorded before its read model
    // caught up (`ApiError::Accepted`).
    if is_problem || response.status().is_success() {
        return response;
    }
    let status = response.status();
    let kind = match status.as_u16() {
        400 => ProblemKind::InvalidParameter,
        404 => ProblemKind::NotFound,
        401 => ProblemKind::Unauthenticated,
        403 => ProblemKind::Forbidden,
        405 => ProblemKind::MethodNotAllowed,
        413 => ProblemKind::PayloadTooLarge,
        415 => ProblemKind::UnsupportedMediaType,
        s if (400..500).contains(&s) => ProblemKind::InvalidRequest,
        503 => ProblemKind::ServiceUnavailable,
        _ => {
            tracing::error!(%status, "unhandled error response");
            ProblemKind::Internal
        }
    };
    ApiError::kind(kind).into_response()
}

/// Parser messages name fields and types, which is what a client needs; keep them short.
fn sanitize(message: &str) -> String {
    message.chars().take(300).collect()
}
