//! Themes: how a group or class presents itself (display name, primary and accent colours,
//! logo), each value inherited down the tree unless set on the way.
//!
//! Classes set their own theme too (`PUT /classes/{id}/theme`): the issue asks that classes
//! inherit "unless they set their own", and a class is where students see it. Who may set
//! it is a decision: the admins of the class's group or above (and system admins), under the
//! class action `class.manage_theme`, as they set the groups' (`group.manage_theme`). Not
//! the class's teachers: a theme is the school's presentation (its name, colours and logo),
//! which its admins keep consistent; teachers rename their class (`class.update`) instead.

use std::sync::Arc;

use domain::theme::{Color, LogoUrl, Theme, ThemeName};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use projections::themes::{self as read, ResolvedTheme, ResolvedValue};
use uuid::Uuid;

use super::closed::{OneOf, ThemeSource};
use super::directory::{class_rejected, group_rejected};
use super::tags::ApiTags;
use super::text::Text;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, named_field_error, ApiError, ProblemKind};
use crate::state::Services;

/// `PUT /groups/{id}/theme` and `PUT /classes/{id}/theme`: the whole theme of the group or
/// class itself. A null (or missing) value is not set there: it is inherited.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct SetTheme {
    /// The name shown in the header: 1 to 200 characters after trimming, with a visible
    /// character and no control or invisible formatting character. Null: inherited.
    #[oai(nullable)]
    pub display_name: Option<Text>,
    /// `#rrggbb` (six hexadecimal digits, either case; answered in lower case). Null:
    /// inherited.
    #[oai(nullable)]
    pub primary_color: Option<Text>,
    /// `#rrggbb`, as `primary_color`. Null: inherited.
    #[oai(nullable)]
    pub accent_color: Option<Text>,
    /// An absolute `https` URL without a user name or password, at most 2,048 characters
    /// (answered in its normalized form). Null: inherited.
    #[oai(nullable)]
    pub logo_url: Option<Text>,
}

/// One value of a resolved theme, and where it comes from.
#[derive(Debug, Object)]
#[oai(rename = "ThemeValue", example)]
pub struct ThemeValueDto {
    /// The value shown; null only for a logo that nobody sets.
    #[oai(nullable)]
    pub value: Option<String>,
    /// `group` or `class`: set by the group or class `source_id` (this one, or the nearest
    /// one above that sets it); `default`: the product's own value.
    pub source: OneOf<ThemeSource>,
    /// The group or class that sets the value; null for the default.
    #[oai(nullable)]
    pub source_id: Option<Uuid>,
}

/// A resolved theme: what a group or class shows.
#[derive(Debug, Object)]
#[oai(rename = "Theme", example)]
pub struct ThemeDto {
    pub display_name: ThemeValueDto,
    pub primary_color: ThemeValueDto,
    pub accent_color: ThemeValueDto,
    pub logo_url: ThemeValueDto,
}

impl From<ResolvedValue> for ThemeValueDto {
    fn from(resolved: ResolvedValue) -> Self {
        Self {
            value: resolved.value,
            source: resolved.source.kind().into(),
            source_id: resolved.source.id(),
        }
    }
}

impl From<ResolvedTheme> for ThemeDto {
    fn from(theme: ResolvedTheme) -> Self {
        Self {
            display_name: theme.display_name.into(),
            primary_color: theme.primary_color.into(),
            accent_color: theme.accent_color.into(),
            logo_url: theme.logo_url.into(),
        }
    }
}

fn color(field: &str, raw: &Option<Text>) -> Result<Option<Color>, ApiError> {
    raw.as_ref()
        .map(|c| {
            Color::parse(&c.0)
                .map_err(|e| ApiError::new(ProblemKind::InvalidColor, format!("{field}: {e}")))
        })
        .transpose()
}

/// The theme a body asks for, every value checked (422 before anything is recorded).
fn parse(body: &SetTheme) -> Result<Theme, ApiError> {
    let display_name = body
        .display_name
        .as_ref()
        .map(|n| ThemeName::parse(&n.0).map_err(|e| named_field_error("display_name", e)))
        .transpose()?;
    let logo_url = body
        .logo_url
        .as_ref()
        .map(|u| {
            LogoUrl::parse(&u.0)
                .map_err(|e| ApiError::new(ProblemKind::InvalidLogoUrl, format!("logo_url: {e}")))
        })
        .transpose()?;
    Ok(Theme {
        display_name,
        primary_color: color("primary_color", &body.primary_color)?,
        accent_color: color("accent_color", &body.accent_color)?,
        logo_url,
    })
}

pub struct ThemesApi {
    pub services: Arc<Services>,
}

impl ThemesApi {
    /// After a write that reached `position`: the resolved theme once the themes read model
    /// has it (read-your-writes; a 202 naming `location` when it stays behind).
    async fn caught_up(&self, position: Option<i64>, location: String) -> Result<(), ApiError> {
        self.services
            .caught_up(read::NAME, position)
            .await
            .map_err(|e| e.located(location))
    }
}

#[OpenApi(tag = "ApiTags::Themes")]
impl ThemesApi {
    /// A group's theme
    ///
    /// What the group shows: its display name, primary and accent colours and logo URL, each
    /// with where it comes from: the group itself or the nearest group above it that sets
    /// the value (`source` `group` with its `source_id`), or the product's default
    /// (`source` `default`). For whoever may read the group.
    #[oai(
        path = "/groups/:id/theme",
        method = "get",
        operation_id = "getGroupTheme"
    )]
    async fn group_theme(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<ThemeDto>, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.read")
            .await?;
        let theme = read::group_theme(&self.services.pool, id.0).await?;
        Ok(Json(theme.into()))
    }

    /// Set a group's theme
    ///
    /// Replaces the group's own theme, whole: a null or missing value is not set by the
    /// group and is inherited from the group above (or the default); setting the same theme
    /// again records nothing. Its subgroups and classes inherit every value they do not set
    /// themselves. For admins of the group or above. Answers the resolved theme. 422
    /// `invalid-color` for a colour not written `#rrggbb`, `invalid-logo-url` for a logo URL
    /// that is not an absolute `https` URL, `invisible-name` or `invalid-request` for a
    /// display name that is invisible, blank or too long; 409 `group-archived`.
    #[oai(
        path = "/groups/:id/theme",
        method = "put",
        operation_id = "setGroupTheme"
    )]
    async fn set_group_theme(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<SetTheme>,
    ) -> Result<Json<ThemeDto>, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.manage_theme")
            .await?;
        let theme = parse(&body)?;
        let appended = self
            .services
            .groups
            .set_theme(&command_context(&caller, &request_id), id.0, theme)
            .await
            .map_err(|e| command_error(e, group_rejected))?;
        self.caught_up(appended.position, format!("/groups/{}/theme", id.0))
            .await?;
        let theme = read::group_theme(&self.services.pool, id.0).await?;
        Ok(Json(theme.into()))
    }

    /// A class's theme
    ///
    /// What the class shows: each value from the class itself when it sets it, otherwise
    /// from its group or the nearest group above that sets it (`source`, `source_id`), or
    /// the product's default. A class moved to another group inherits from there. For
    /// whoever may read the class, its students included.
    #[oai(
        path = "/classes/:id/theme",
        method = "get",
        operation_id = "getClassTheme"
    )]
    async fn class_theme(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<ThemeDto>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.read")
            .await?;
        let theme = read::class_theme(&self.services.pool, id.0).await?;
        Ok(Json(theme.into()))
    }

    /// Set a class's theme
    ///
    /// Replaces the class's own theme, whole, as for a group: a null or missing value is
    /// inherited from the class's group. For admins of the class's group or above (not the
    /// class's teachers: the theme is the school's presentation). Answers the resolved
    /// theme. 422 `invalid-color`, `invalid-logo-url`, `invisible-name` or
    /// `invalid-request` as for a group; 409 `class-archived`.
    #[oai(
        path = "/classes/:id/theme",
        method = "put",
        operation_id = "setClassTheme"
    )]
    async fn set_class_theme(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<SetTheme>,
    ) -> Result<Json<ThemeDto>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.manage_theme")
            .await?;
        let theme = parse(&body)?;
        let appended = self
            .services
            .classes
            .set_theme(&command_context(&caller, &request_id), id.0, theme)
            .await
            .map_err(|e| command_error(e, class_rejected))?;
        self.caught_up(appended.position, format!("/classes/{}/theme", id.0))
            .await?;
        let theme = read::class_theme(&self.services.pool, id.0).await?;
        Ok(Json(theme.into()))
    }
}
