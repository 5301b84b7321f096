//! What happened to a class: the events and their JSON contract (golden tests).

use serde::{Deserialize, Serialize};

use super::{ClassName, ClassRole};
use crate::group::GroupId;
use crate::theme::Theme;
use crate::user::UserId;
use crate::DomainEvent;

/// What happened to a class. The JSON form is a contract (see the golden tests below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClassEvent {
    #[serde(rename = "class.created")]
    Created { name: ClassName, group_id: GroupId },
    #[serde(rename = "class.renamed")]
    Renamed { name: ClassName },
    #[serde(rename = "class.archived")]
    Archived,
    #[serde(rename = "class.moved")]
    Moved { group_id: GroupId },
    #[serde(rename = "class.member_added")]
    MemberAdded { user_id: UserId, role: ClassRole },
    #[serde(rename = "class.member_role_changed")]
    MemberRoleChanged { user_id: UserId, role: ClassRole },
    #[serde(rename = "class.member_removed")]
    MemberRemoved { user_id: UserId },
    /// The class's own theme, whole: a `null` value is inherited from its group.
    #[serde(rename = "class.theme_set")]
    ThemeSet { theme: Theme },
}

impl DomainEvent for ClassEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "class.created",
            Self::Renamed { .. } => "class.renamed",
            Self::Archived => "class.archived",
            Self::Moved { .. } => "class.moved",
            Self::MemberAdded { .. } => "class.member_added",
            Self::MemberRoleChanged { .. } => "class.member_role_changed",
            Self::MemberRemoved { .. } => "class.member_removed",
            Self::ThemeSet { .. } => "class.theme_set",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    fn created() -> ClassEvent {
        ClassEvent::Created {
            name: ClassName::parse("Algebra").unwrap(),
            group_id: GroupId::from_u128(1),
        }
    }

    #[test]
    fn golden_json() {
        assert_eq!(
            serde_json::to_value(created()).unwrap(),
            serde_json::json!({"type": "class.created", "name": "Algebra",
                               "group_id": "00000000-0000-0000-0000-000000000001"})
        );
        assert_eq!(
            serde_json::to_value(ClassEvent::MemberAdded {
                user_id: UserId::from_u128(7),
                role: ClassRole::Teacher
            })
            .unwrap(),
            serde_json::json!({"type": "class.member_added",
                               "user_id": "00000000-0000-0000-0000-000000000007",
                               "role": "teacher"})
        );
    }

    #[test]
    fn theme_set() {
        use crate::aggregate::testing::assert_golden;
        use crate::theme::Color;
        assert_golden(
            ClassEvent::ThemeSet {
                theme: Theme {
                    accent_color: Some(Color::parse("#16a34a").unwrap()),
                    ..Theme::default()
                },
            },
            serde_json::json!({"type": "class.theme_set",
                               "theme": {"display_name": null, "primary_color": null,
                                         "accent_color": "#16a34a", "logo_url": null}}),
        );
    }
}
