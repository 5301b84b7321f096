//! The `themes` read model: the theme values each group and class sets itself, and the
//! queries that resolve what a group or class shows.
//!
//! The projection stores only what a group or class set (`group.theme_set`,
//! `class.theme_set`; a null value is inherited). Inheritance is resolved when a theme is
//! read ([`group_theme`], [`class_theme`]): along the directory's chain of groups (the
//! class's own theme first, then its group's, then each group above it up to the root, then
//! [`domain::theme::DEFAULT`]), each value from the nearest place that sets it. So a group
//! or class that moves inherits from its new place as soon as the directory has the move
//! (the move's answer waits for that), and a move rewrites nothing here, however large the
//! subtree.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::class::{Class, ClassEvent};
use domain::group::{Group, GroupEvent};
use domain::theme::{Theme, DEFAULT};
use domain::Aggregate as _;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

/// The subscriber name of the themes projection.
pub const NAME: &str = "themes";

/// Keeps the `themes` table from the group and class streams.
pub struct ThemesProjection;

#[async_trait]
impl Projection for ThemesProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Group::TYPE, Class::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["themes"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        let (kind, theme) = match event.event_type.as_str() {
            "group.theme_set" => match serde_json::from_value(event.payload.clone())
                .context("group event payload")?
            {
                GroupEvent::ThemeSet { theme } => ("group", theme),
                _ => return Ok(()),
            },
            "class.theme_set" => match serde_json::from_value(event.payload.clone())
                .context("class event payload")?
            {
                ClassEvent::ThemeSet { theme } => ("class", theme),
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        let owner: Uuid = event.aggregate_id.parse().context("owner id")?;
        store(conn, kind, owner, &theme, event.recorded_at, event.sequence).await
    }
}

/// Writes an owner's theme as of the event at `sequence` of its stream; an event already
/// applied (a replayed batch) changes nothing.
async fn store(
    conn: &mut PgConnection,
    kind: &str,
    owner: Uuid,
    theme: &Theme,
    at: DateTime<Utc>,
    sequence: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO themes (owner_kind, owner_id, display_name, primary_color, accent_color, \
                             logo_url, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (owner_kind, owner_id) DO UPDATE SET \
             display_name = EXCLUDED.display_name, primary_color = EXCLUDED.primary_color, \
             accent_color = EXCLUDED.accent_color, logo_url = EXCLUDED.logo_url, \
             updated_at = EXCLUDED.updated_at, version = EXCLUDED.version \
         WHERE themes.version < EXCLUDED.version",
    )
    .bind(kind)
    .bind(owner)
    .bind(theme.display_name.as_ref().map(|n| n.as_str()))
    .bind(theme.primary_color.as_ref().map(|c| c.as_str()))
    .bind(theme.accent_color.as_ref().map(|c| c.as_str()))
    .bind(theme.logo_url.as_ref().map(|u| u.as_str()))
    .bind(at)
    .bind(sequence)
    .execute(conn)
    .await?;
    Ok(())
}

/// Where a resolved value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeSource {
    Group(Uuid),
    Class(Uuid),
    /// Nobody on the way up sets it: the product's own value.
    Default,
}

impl ThemeSource {
    /// `group`, `class` or `default`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Group(_) => "group",
            Self::Class(_) => "class",
            Self::Default => "default",
        }
    }

    /// The group or class that sets the value; `None` for the default.
    pub fn id(self) -> Option<Uuid> {
        match self {
            Self::Group(id) | Self::Class(id) => Some(id),
            Self::Default => None,
        }
    }
}

/// One resolved value and where it comes from (a logo may be `None` even by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedValue {
    pub value: Option<String>,
    pub source: ThemeSource,
}

/// What a group or class shows: each value resolved on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTheme {
    pub display_name: ResolvedValue,
    pub primary_color: ResolvedValue,
    pub accent_color: ResolvedValue,
    pub logo_url: ResolvedValue,
}

/// What one group or class sets itself: a row of `themes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeLayer {
    pub owner_kind: String,
    pub owner_id: Uuid,
    pub display_name: Option<String>,
    pub primary_color: Option<String>,
    pub accent_color: Option<String>,
    pub logo_url: Option<String>,
}

/// A `themes` row as selected by the queries below.
type LayerRow = (
    String,
    Uuid,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl From<LayerRow> for ThemeLayer {
    fn from(row: LayerRow) -> Self {
        let (owner_kind, owner_id, display_name, primary_color, accent_color, logo_url) = row;
        Self {
            owner_kind,
            owner_id,
            display_name,
            primary_color,
            accent_color,
            logo_url,
        }
    }
}

impl ThemeLayer {
    fn source(&self) -> ThemeSource {
        if self.owner_kind == "class" {
            ThemeSource::Class(self.owner_id)
        } else {
            ThemeSource::Group(self.owner_id)
        }
    }
}

/// Each value from the first layer that sets it (`layers`: nearest first), else the default.
pub fn resolve(layers: &[ThemeLayer]) -> ResolvedTheme {
    let pick = |field: fn(&ThemeLayer) -> &Option<String>, default: Option<&str>| {
        layers
            .iter()
            .find_map(|layer| {
                field(layer).as_ref().map(|value| ResolvedValue {
                    value: Some(value.clone()),
                    source: layer.source(),
                })
            })
            .unwrap_or_else(|| ResolvedValue {
                value: default.map(str::to_owned),
                source: ThemeSource::Default,
            })
    };
    ResolvedTheme {
        display_name: pick(|l| &l.display_name, Some(DEFAULT.display_name)),
        primary_color: pick(|l| &l.primary_color, Some(DEFAULT.primary_color)),
        accent_color: pick(|l| &l.accent_color, Some(DEFAULT.accent_color)),
        logo_url: pick(|l| &l.logo_url, DEFAULT.logo_url),
    }
}

/// The theme a group shows: its own values, then its ancestors', nearest first.
pub async fn group_theme<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
) -> sqlx::Result<ResolvedTheme> {
    let layers: Vec<LayerRow> = sqlx::query_as(
        "SELECT t.owner_kind, t.owner_id, t.display_name, t.primary_color, t.accent_color, \
                t.logo_url \
         FROM groups g JOIN groups a ON a.path @> g.path \
         JOIN themes t ON t.owner_kind = 'group' AND t.owner_id = a.id \
         WHERE g.id = $1 ORDER BY nlevel(a.path) DESC",
    )
    .bind(group_id)
    .fetch_all(executor)
    .await?;
    Ok(resolve(
        &layers.into_iter().map(ThemeLayer::from).collect::<Vec<_>>(),
    ))
}

/// The theme a class shows: its own values, then its group's and that group's ancestors'.
pub async fn class_theme<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
) -> sqlx::Result<ResolvedTheme> {
    let layers: Vec<LayerRow> = sqlx::query_as(
        "WITH chain AS ( \
             SELECT 'class'::text AS kind, c.id, 2147483647 AS depth \
             FROM classes c WHERE c.id = $1 \
             UNION ALL \
             SELECT 'group', a.id, nlevel(a.path) \
             FROM classes c JOIN groups g ON g.id = c.group_id \
             JOIN groups a ON a.path @> g.path WHERE c.id = $1) \
         SELECT t.owner_kind, t.owner_id, t.display_name, t.primary_color, t.accent_color, \
                t.logo_url \
         FROM chain JOIN themes t ON t.owner_kind = chain.kind AND t.owner_id = chain.id \
         ORDER BY chain.depth DESC",
    )
    .bind(class_id)
    .fetch_all(executor)
    .await?;
    Ok(resolve(
        &layers.into_iter().map(ThemeLayer::from).collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(kind: &str, id: u128, primary: Option<&str>, accent: Option<&str>) -> ThemeLayer {
        ThemeLayer {
            owner_kind: kind.into(),
            owner_id: Uuid::from_u128(id),
            display_name: None,
            primary_color: primary.map(Into::into),
            accent_color: accent.map(Into::into),
            logo_url: None,
        }
    }

    #[test]
    fn each_value_comes_from_the_nearest_layer_that_sets_it() {
        let resolved = resolve(&[
            layer("class", 3, None, None),
            layer("group", 2, None, Some("#00ff00")),
            layer("group", 1, Some("#ff0000"), Some("#0000ff")),
        ]);
        assert_eq!(
            resolved.accent_color,
            ResolvedValue {
                value: Some("#00ff00".into()),
                source: ThemeSource::Group(Uuid::from_u128(2)),
            }
        );
        assert_eq!(
            resolved.primary_color.source,
            ThemeSource::Group(Uuid::from_u128(1))
        );
        assert_eq!(
            resolved.display_name,
            ResolvedValue {
                value: Some(DEFAULT.display_name.into()),
                source: ThemeSource::Default,
            }
        );
        assert_eq!(
            resolved.logo_url,
            ResolvedValue {
                value: None,
                source: ThemeSource::Default,
            }
        );
        let own = resolve(&[layer("class", 3, Some("#123456"), None)]);
        assert_eq!(
            own.primary_color.source,
            ThemeSource::Class(Uuid::from_u128(3))
        );
    }
}
