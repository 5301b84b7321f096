//! The OpenAPI document: every resource's API in one `OpenApiService` (the order of the tuple
//! is the order of the document's paths), and the document as served, with the request bodies
//! closed to unknown fields.

use std::sync::Arc;

use anyhow::Context as _;
use poem_openapi::OpenApiService;

use crate::routes::assessments::AssessmentsApi;
use crate::routes::assignments::AssignmentsApi;
use crate::routes::audit::AuditApi;
use crate::routes::auth::AuthApi;
use crate::routes::classes::ClassesApi;
use crate::routes::dashboards::DashboardsApi;
use crate::routes::events::EventsApi;
use crate::routes::groups::GroupsApi;
use crate::routes::health::HealthApi;
use crate::routes::learning::LearningApi;
use crate::routes::me::MeApi;
use crate::routes::notifications::NotificationsApi;
use crate::routes::oidc::OidcApi;
use crate::routes::realtime::credentials::RealtimeCredentialsApi;
use crate::routes::realtime::updates::RealtimeUpdatesApi;
use crate::routes::service_accounts::ServiceAccountsApi;
use crate::routes::themes::ThemesApi;
use crate::routes::tools::ToolsApi;
use crate::routes::usage::UsageApi;
use crate::routes::users::UsersApi;
use crate::routes::workflows::WorkflowsApi;
use crate::state::Services;

/// The OpenAPI document as served: poem-openapi's, plus `additionalProperties: false` on
/// every object a request body names and on the objects inside those. Our request bodies
/// refuse unknown fields (`deny_unknown_fields`, the convention for every struct a request
/// body holds), which poem-openapi does not write into the schema, so clients generated
/// from the document would otherwise believe extra fields harmless. The kinds of a union
/// (detections) are left open: their `type` member lives beside their fields.
/// Every write operation may answer `202 Accepted` with what was committed when its read
/// model did not catch up in time (`ApiError::Accepted`); declared here, on the writes that
/// have no 202 of their own, rather than on every operation by the error type.
fn declare_committed(document: &mut serde_json::Value) {
    let committed = serde_json::json!({
        "description": "The write was recorded, but its read model did not reflect it within \
            READ_YOUR_WRITES_TIMEOUT_MS: do not repeat it; read `Location` once the read model \
            has passed `Rapt-Position`.",
        "headers": {
            "Rapt-Position": {"required": true, "schema": {"type": "integer", "format": "int64"}},
            "Location": {"required": false, "schema": {"type": "string"}}
        },
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Committed"}}}
    });
    // Its schema, which poem-openapi drops as unreferenced by the operations it knows.
    let mut registry = poem_openapi::registry::Registry::new();
    <crate::problem::Committed as poem_openapi::types::Type>::register(&mut registry);
    for (name, schema) in registry.schemas {
        if document["components"]["schemas"][&name].is_null() {
            document["components"]["schemas"][&name] =
                serde_json::to_value(schema).unwrap_or_default();
        }
    }
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for operations in paths.values_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            if !matches!(method.as_str(), "post" | "put" | "patch" | "delete") {
                continue;
            }
            if let Some(responses) = operation["responses"].as_object_mut() {
                responses.entry("202").or_insert_with(|| committed.clone());
            }
        }
    }
}

/// The operations that anyone may call, signed in or not. Every other operation needs a
/// session token or a service account's secret, and answers `401 unauthenticated` without
/// one (a test calls each operation anonymously and holds this list to that).
pub const PUBLIC_OPERATIONS: [&str; 10] = [
    "register",
    "login",
    "requestPasswordReset",
    "confirmPasswordReset",
    "listProviders",
    "startExternalSignIn",
    "externalCallback",
    "health",
    "ready",
    "auditPublicKey",
];

/// How a caller authenticates, and which operations need it.
///
/// Written here rather than with poem-openapi's `SecurityScheme` extractors: the caller is
/// resolved once for every request by `middleware::resolve_caller` (bearer token first, then
/// the session cookie, service-account secrets included), and handlers take it as
/// `Data<&Caller>`. An extractor per scheme would have to be added to every handler's
/// signature, and would authenticate a second time, for the document alone.
fn declare_security(document: &mut serde_json::Value, session_cookie: &str) {
    let other_name = if session_cookie == crate::middleware::HOST_SESSION_COOKIE {
        crate::middleware::SESSION_COOKIE
    } else {
        crate::middleware::HOST_SESSION_COOKIE
    };
    document["components"]["securitySchemes"] = serde_json::json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <token>`: the `token` of a sign-in \
                (`POST /auth/register`, `POST /auth/login`), or a service account's secret \
                (`svc_…`). Not checked for cross-site requests."
        },
        "sessionCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": session_cookie,
            "description": format!(
                "The session cookie that a sign-in sets (HttpOnly), named as this server sets \
                 it: `__Host-session` when it is Secure and host-only (the default), `session` \
                 with `COOKIE_SECURE=false` or `COOKIE_DOMAIN`; `{other_name}` is read too. \
                 A request that changes something with it must come from an allowed origin \
                 (`403 cross-site-request`)."
            )
        }
    });
    document["security"] = serde_json::json!([{"bearer": []}, {"sessionCookie": []}]);
    for operation in operations_mut(document) {
        if PUBLIC_OPERATIONS.contains(&operation_id(operation)) {
            operation["security"] = serde_json::json!([]);
        }
    }
}

fn operation_id(operation: &serde_json::Value) -> &str {
    operation["operationId"].as_str().unwrap_or_default()
}

/// Every operation of the document, with its method.
fn operations_mut(
    document: &mut serde_json::Value,
) -> impl Iterator<Item = &mut serde_json::Value> {
    document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|operations| operations.as_object_mut())
        .flat_map(|operations| operations.iter_mut())
        .filter(|(method, _)| {
            matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
            )
        })
        .map(|(method, operation)| {
            operation["x-method"] = serde_json::Value::String(method.clone());
            operation
        })
}

/// The error statuses an operation answers with besides those [`error_statuses`] finds in
/// its form, by operation id.
pub const MORE_ERRORS: [(&str, &[u16]); 11] = [
    // Wrong credentials; the per-IP limit and the account's throttling.
    ("login", &[401, 429]),
    ("register", &[429]),
    ("requestPasswordReset", &[429]),
    ("confirmPasswordReset", &[429]),
    ("changePassword", &[429]),
    // Ids in the body or the query that name nothing the caller may see.
    ("startLearningSession", &[404]),
    ("createServiceAccount", &[404]),
    ("listSafetyConcerns", &[404]),
    ("issueRealtimeCredential", &[404]),
    // A topic the caller may not see; updates older than the retention.
    ("realtimeUpdates", &[404, 410]),
    // A range of days that cannot be reported (`invalid-date-range`).
    ("groupUsage", &[422]),
];

/// The operations that never answer `409`, although they write: the reset request only
/// starts work in the background.
pub const NEVER_CONFLICT: [&str; 1] = ["requestPasswordReset"];

/// The error statuses an operation can answer with:
/// - every operation: `500`, and `503` (the database, also while resolving the caller);
/// - with parameters or a body: `400` (a parameter that does not parse, malformed JSON);
/// - with a body: `413`, `415`, `422`;
/// - needing a caller: `401` and `403`; a public one that changes something: `403` too
///   (a session cookie from a page of another origin, `cross-site-request`);
/// - with a path parameter (an id, a provider): `404`;
/// - changing something (`POST`, `PUT`, `PATCH`, `DELETE`): `409`;
/// - and [`MORE_ERRORS`]. `405` is for methods that no operation has, so none lists it.
fn error_statuses(operation: &serde_json::Value) -> std::collections::BTreeSet<u16> {
    let id = operation_id(operation);
    let public = PUBLIC_OPERATIONS.contains(&id);
    let method = operation["x-method"].as_str().unwrap_or_default();
    let writes = matches!(method, "post" | "put" | "patch" | "delete");
    let parameters = operation["parameters"].as_array().map_or(&[][..], |p| p);
    let body = operation["requestBody"].is_object();
    let mut statuses = std::collections::BTreeSet::from([500, 503]);
    if body || !parameters.is_empty() {
        statuses.insert(400);
    }
    if body {
        statuses.extend([413, 415, 422]);
    }
    if !public {
        statuses.extend([401, 403]);
    } else if writes {
        statuses.insert(403);
    }
    if parameters.iter().any(|p| p["in"] == "path") {
        statuses.insert(404);
    }
    if writes && !NEVER_CONFLICT.contains(&id) {
        statuses.insert(409);
    }
    for (_, more) in MORE_ERRORS.iter().filter(|(op, _)| *op == id) {
        statuses.extend(more.iter().copied());
    }
    statuses
}

/// Each operation lists the error statuses it can answer with ([`error_statuses`]), not
/// every status of [`crate::problem::ProblemResponse`], which poem-openapi gives every
/// operation whose handler returns an [`crate::problem::ApiError`] (and none to the others,
/// such as `/health`, which the middleware may still answer with a problem).
fn declare_errors(document: &mut serde_json::Value) {
    let problem = |description: &str| {
        serde_json::json!({
            "description": description,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}
            }}
        })
    };
    // The problem responses as poem-openapi writes them (descriptions, the 429's header).
    let mut catalog = std::collections::BTreeMap::new();
    for operation in operations_mut(document) {
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            if response["content"]["application/problem+json"].is_object() {
                catalog
                    .entry(status.clone())
                    .or_insert_with(|| response.clone());
            }
        }
    }
    for operation in operations_mut(document) {
        let statuses = error_statuses(operation);
        let Some(responses) = operation["responses"].as_object_mut() else {
            continue;
        };
        responses.retain(|status, response| {
            !response["content"]["application/problem+json"].is_object()
                || status
                    .parse::<u16>()
                    .is_ok_and(|status| statuses.contains(&status))
        });
        for status in statuses {
            responses.entry(status.to_string()).or_insert_with(|| {
                match catalog.get(&status.to_string()) {
                    Some(response) => response.clone(),
                    None => problem("An error (see the problem's `type`)."),
                }
            });
        }
    }
    for operation in operations_mut(document) {
        if let Some(operation) = operation.as_object_mut() {
            operation.remove("x-method");
        }
    }
}

/// A nullable member of a closed set (`Option<OneOf<E>>`), which poem-openapi writes as
/// `nullable` beside an `allOf` of the enum's reference and no `type`: OpenAPI 3.0 gives
/// `nullable` no meaning without `type` (linters reject it, and generated clients type the
/// member `Any`). Written instead as the enum's values inline, with `null` among them, as
/// OpenAPI 3.0.3 asks of a nullable enum. A nullable member of an object type gets
/// `type: object` beside its reference, for the same reason.
fn inline_nullable_enums(document: &mut serde_json::Value) {
    let enums: std::collections::BTreeMap<String, serde_json::Value> = document["components"]
        ["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, schema)| schema["enum"].is_array() && schema["type"] == "string")
        .map(|(name, schema)| {
            (
                format!("#/components/schemas/{name}"),
                schema["enum"].clone(),
            )
        })
        .collect();
    let properties = document["components"]["schemas"]
        .as_object_mut()
        .into_iter()
        .flat_map(|schemas| schemas.values_mut())
        .filter_map(|schema| schema.get_mut("properties"))
        .filter_map(|properties| properties.as_object_mut())
        .flat_map(|properties| properties.values_mut());
    for property in properties {
        let reference = property["allOf"][0]["$ref"].as_str().unwrap_or_default();
        let Some(values) = enums.get(reference) else {
            // A nullable member of an object type (`Option<Object>`, such as a submission's
            // grade): the same `nullable` without `type` (poem-openapi also repeats it in a
            // second `allOf` member); written as `type: object` beside the one reference.
            if !reference.is_empty() && property["nullable"] == true && property["type"].is_null() {
                let mut inline = serde_json::json!({
                    "type": "object", "nullable": true, "allOf": [{"$ref": reference}]
                });
                if let Some(description) = property.get("description") {
                    inline["description"] = description.clone();
                }
                *property = inline;
            }
            continue;
        };
        if property["nullable"] != true || !property["type"].is_null() {
            continue;
        }
        let mut values = values.as_array().cloned().unwrap_or_default();
        values.push(serde_json::Value::Null);
        let mut inline = serde_json::json!({"type": "string", "nullable": true, "enum": values});
        if let Some(description) = property.get("description") {
            inline["description"] = description.clone();
        }
        *property = inline;
    }
    // The enums that only nullable members used are not referenced any more.
    let text = document.to_string();
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        schemas.retain(|name, _| {
            !enums.contains_key(&format!("#/components/schemas/{name}"))
                || text.contains(&format!("\"#/components/schemas/{name}\""))
        });
    }
}

/// poem-openapi names chrono's `NaiveDate` format `naive-date`; OpenAPI's name for a
/// `YYYY-MM-DD` date is `date`, which generated clients and validators know.
fn standard_date_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("format").and_then(serde_json::Value::as_str) == Some("naive-date") {
                map.insert("format".to_owned(), "date".into());
            }
            map.values_mut().for_each(standard_date_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(standard_date_formats),
        _ => {}
    }
}

/// The document as served: poem-openapi's, with the post-processing described above each of
/// these steps. `session_cookie` is the name the session cookie has with this configuration
/// (`middleware::session_cookie_name`).
pub fn document(spec: &str, session_cookie: &str) -> anyhow::Result<serde_json::Value> {
    let mut document: serde_json::Value =
        serde_json::from_str(spec).context("the OpenAPI document is JSON")?;
    declare_committed(&mut document);
    declare_security(&mut document, session_cookie);
    declare_errors(&mut document);
    inline_nullable_enums(&mut document);
    standard_date_formats(&mut document);
    let mut closed = Vec::new();
    for operations in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for operation in operations.as_object().into_iter().flat_map(|o| o.values()) {
            let content = operation["requestBody"]["content"].as_object();
            for body in content.into_iter().flat_map(|c| c.values()) {
                if let Some(name) = body["schema"]["$ref"].as_str() {
                    closed.push(name.trim_start_matches("#/components/schemas/").to_owned());
                }
            }
        }
    }
    // The objects inside a closed body (an assessment's scores and trace, the email
    // preferences) refuse unknown fields too.
    let schemas = &mut document["components"]["schemas"];
    while let Some(name) = closed.pop() {
        let schema = &mut schemas[&name];
        if !schema["properties"].is_object()
            || schema["discriminator"].is_object()
            || schema["additionalProperties"] == false
        {
            continue;
        }
        schema["additionalProperties"] = serde_json::Value::Bool(false);
        for property in schema["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            let inner = [
                &property["$ref"],
                &property["items"]["$ref"],
                &property["allOf"][0]["$ref"],
            ];
            closed.extend(inner.into_iter().filter_map(|r| {
                r.as_str()
                    .map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
            }));
        }
    }
    Ok(document)
}

/// The OpenAPI service of all endpoints.
#[allow(clippy::type_complexity)]
pub fn openapi(
    services: &Arc<Services>,
) -> OpenApiService<
    (
        AuthApi,
        OidcApi,
        MeApi,
        ClassesApi,
        (ToolsApi, AssignmentsApi),
        LearningApi,
        AssessmentsApi,
        NotificationsApi,
        DashboardsApi,
        WorkflowsApi,
        // poem-openapi implements `OpenApi` for tuples of up to 16: the realtime pair nests.
        (RealtimeCredentialsApi, RealtimeUpdatesApi),
        ServiceAccountsApi,
        UsersApi,
        // A group's theme and usage beside the group's other paths.
        (GroupsApi, ThemesApi, UsageApi),
        (EventsApi, AuditApi),
        HealthApi,
    ),
    (),
> {
    OpenApiService::new(
        (
            AuthApi {
                services: services.clone(),
            },
            OidcApi {
                services: services.clone(),
            },
            MeApi {
                services: services.clone(),
            },
            ClassesApi {
                services: services.clone(),
            },
            (
                ToolsApi {
                    services: services.clone(),
                },
                AssignmentsApi {
                    services: services.clone(),
                },
            ),
            LearningApi {
                services: services.clone(),
            },
            AssessmentsApi {
                services: services.clone(),
            },
            NotificationsApi {
                services: services.clone(),
            },
            DashboardsApi {
                services: services.clone(),
            },
            WorkflowsApi {
                services: services.clone(),
            },
            (
                RealtimeCredentialsApi {
                    services: services.clone(),
                },
                RealtimeUpdatesApi {
                    services: services.clone(),
                },
            ),
            ServiceAccountsApi {
                services: services.clone(),
            },
            UsersApi {
                services: services.clone(),
            },
            (
                GroupsApi {
                    services: services.clone(),
                },
                ThemesApi {
                    services: services.clone(),
                },
                UsageApi {
                    services: services.clone(),
                },
            ),
            (
                EventsApi {
                    services: services.clone(),
                },
                AuditApi {
                    services: services.clone(),
                },
            ),
            HealthApi {
                services: services.clone(),
            },
        ),
        "Raptscallions API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Event-sourced backend of Raptscallions. Errors are RFC 9457 problem details \
         (application/problem+json) with a stable `type` URI.",
    )
    // The server that serves the document: clients resolve paths against its origin.
    .server(poem_openapi::ServerObject::new("/").description("The server this document comes from"))
    .contact(
        poem_openapi::ContactObject::new()
            .name("Raptscallions")
            .url("https://raptscallions.app"),
    )
}
