//! The OpenAPI document: every resource's API in one `OpenApiService` (the order of the tuple
//! is the order of the document's paths), and the document as served, with the request bodies
//! closed to unknown fields.

use std::sync::Arc;

use anyhow::Context as _;
use poem_openapi::OpenApiService;

use crate::routes::assessments::AssessmentsApi;
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
use crate::routes::tools::ToolsApi;
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

pub fn document(spec: &str) -> anyhow::Result<serde_json::Value> {
    let mut document: serde_json::Value =
        serde_json::from_str(spec).context("the OpenAPI document is JSON")?;
    declare_committed(&mut document);
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
        ToolsApi,
        LearningApi,
        AssessmentsApi,
        NotificationsApi,
        DashboardsApi,
        WorkflowsApi,
        // poem-openapi implements `OpenApi` for tuples of up to 16: the realtime pair nests.
        (RealtimeCredentialsApi, RealtimeUpdatesApi),
        ServiceAccountsApi,
        UsersApi,
        GroupsApi,
        EventsApi,
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
            ToolsApi {
                services: services.clone(),
            },
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
            GroupsApi {
                services: services.clone(),
            },
            EventsApi {
                services: services.clone(),
            },
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
}
