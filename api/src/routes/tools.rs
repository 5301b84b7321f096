//! Tools: managed by group admins, readable by group members (and everyone above).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::tool::{ToolError, ToolName};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use projections::directory as read;
use projections::directory::{self, ToolRow};
use uuid::Uuid;

use super::tags::ApiTags;
use super::text::Text;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

#[derive(Debug, Object)]
#[oai(rename = "Tool", example)]
pub struct ToolDto {
    pub id: Uuid,
    pub group_id: Uuid,
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<ToolRow> for ToolDto {
    fn from(row: ToolRow) -> Self {
        Self {
            id: row.id,
            group_id: row.group_id,
            name: row.name,
            description: row.description,
            archived: row.archived,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ToolList {
    pub items: Vec<ToolDto>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct CreateTool {
    pub name: Text,
    /// At most 2,000 characters.
    #[oai(nullable)]
    pub description: Option<Text>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct UpdateTool {
    #[oai(nullable)]
    pub name: Option<Text>,
    #[oai(nullable)]
    pub description: Option<Text>,
}

#[derive(ApiResponse)]
pub enum CreatedTool {
    #[oai(status = 201)]
    Created(Json<ToolDto>, #[oai(header = "Location")] String),
}

fn rejected(error: ToolError) -> ApiError {
    match error {
        ToolError::NotFound => ApiError::not_found("resource"),
        ToolError::AlreadyExists => ApiError::kind(ProblemKind::Conflict),
        ToolError::Archived => ApiError::kind(ProblemKind::ToolArchived),
        ToolError::GroupNotFound => ApiError::kind(ProblemKind::GroupNotFound),
        ToolError::GroupArchived => ApiError::kind(ProblemKind::GroupArchived),
        ToolError::DescriptionTooLong => ApiError::new(
            ProblemKind::InvalidRequest,
            "description: at most 2000 characters".to_owned(),
        ),
    }
}

fn parse_name(raw: &str) -> Result<ToolName, ApiError> {
    ToolName::parse(raw).map_err(crate::problem::group_name_error)
}

pub struct ToolsApi {
    pub services: Arc<Services>,
}

impl ToolsApi {
    /// The tool, if the caller may `action` on its group; 404 when it does not exist or the
    /// caller may not even read the group's tools.
    async fn authorized(
        &self,
        caller: &Caller,
        id: Uuid,
        action: &str,
    ) -> Result<ToolRow, ApiError> {
        let principal = caller.user()?;
        let tool = directory::get_tool(&self.services.pool, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let authz = &self.services.authz;
        let target = authz
            .group_target(principal, tool.group_id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        if !authz
            .policy
            .decide(principal, "group.read_tools", &target)
            .0
        {
            return Err(ApiError::not_found("resource"));
        }
        if !authz.policy.decide(principal, action, &target).0 {
            return Err(ApiError::kind(ProblemKind::Forbidden));
        }
        Ok(tool)
    }

    async fn read_after_write(
        &self,
        id: Uuid,
        position: Option<i64>,
    ) -> Result<Json<ToolDto>, ApiError> {
        self.services
            .caught_up(read::NAME, position)
            .await
            .map_err(|e| e.located(format!("/tools/{id}")))?;
        directory::get_tool(&self.services.pool, id)
            .await?
            .map(|t| Json(t.into()))
            .ok_or_else(|| ApiError::not_found("resource"))
    }
}

#[OpenApi(tag = "ApiTags::Tools")]
impl ToolsApi {
    /// Create a tool in a group
    ///
    /// Creates a tool that the group's classes (and those of the groups below it) may use;
    /// `Location` names the new tool.
    #[oai(
        path = "/groups/:id/tools",
        method = "post",
        operation_id = "createTool"
    )]
    async fn create(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<CreateTool>,
    ) -> Result<CreatedTool, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.manage_tools")
            .await?;
        let name = parse_name(&body.name.0)?;
        let description = body
            .description
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or_default();
        let (tool_id, appended) = self
            .services
            .tools
            .create(
                &command_context(&caller, &request_id),
                id.0,
                name,
                description,
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        let tool = self.read_after_write(tool_id, appended.position).await?;
        Ok(CreatedTool::Created(tool, format!("/tools/{tool_id}")))
    }

    /// Tools of a group
    ///
    /// The group's tools, without the archived ones unless `include_archived=true`.
    #[oai(path = "/groups/:id/tools", method = "get", operation_id = "listTools")]
    async fn list(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// Include archived tools.
        include_archived: Query<Option<bool>>,
    ) -> Result<Json<ToolList>, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.read_tools")
            .await?;
        let rows = directory::tools_of_group(
            &self.services.pool,
            id.0,
            include_archived.0.unwrap_or(false),
        )
        .await?;
        Ok(Json(ToolList {
            items: rows.into_iter().map(ToolDto::from).collect(),
        }))
    }

    /// Get a tool
    ///
    /// The tool. 404 when it does not exist or the caller may not read it.
    #[oai(path = "/tools/:id", method = "get", operation_id = "getTool")]
    async fn get(&self, caller: Data<&Caller>, id: Path<Uuid>) -> Result<Json<ToolDto>, ApiError> {
        let tool = self.authorized(&caller, id.0, "group.read_tools").await?;
        Ok(Json(tool.into()))
    }

    /// Update a tool
    ///
    /// Changes the tool's name or description (a missing or null member keeps its value). 409
    /// `tool-archived` for an archived tool.
    #[oai(path = "/tools/:id", method = "patch", operation_id = "updateTool")]
    async fn update(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<UpdateTool>,
    ) -> Result<Json<ToolDto>, ApiError> {
        self.authorized(&caller, id.0, "group.manage_tools").await?;
        let name = body.name.as_ref().map(|n| parse_name(&n.0)).transpose()?;
        let description = body.description.as_ref().map(|d| d.0.clone());
        let appended = self
            .services
            .tools
            .update(
                &command_context(&caller, &request_id),
                id.0,
                name,
                description,
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.read_after_write(id.0, appended.position).await
    }

    /// Archive a tool
    ///
    /// Archives the tool: no new learning session can start with it, and it can no longer be
    /// changed.
    #[oai(
        path = "/tools/:id/archive",
        method = "post",
        operation_id = "archiveTool"
    )]
    async fn archive(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<ToolDto>, ApiError> {
        self.authorized(&caller, id.0, "group.manage_tools").await?;
        let appended = self
            .services
            .tools
            .archive(&command_context(&caller, &request_id), id.0)
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.read_after_write(id.0, appended.position).await
    }
}
