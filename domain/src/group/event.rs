//! What happened to a group: the events and their JSON contract (golden tests).

use serde::{Deserialize, Serialize};

use super::{GroupId, GroupName, GroupRole};
use crate::theme::Theme;
use crate::user::UserId;
use crate::DomainEvent;

/// What happened to a group. The JSON form is a contract (see the golden tests below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum GroupEvent {
    #[serde(rename = "group.created")]
    Created {
        name: GroupName,
        parent_id: Option<GroupId>,
    },
    #[serde(rename = "group.renamed")]
    Renamed { name: GroupName },
    #[serde(rename = "group.archived")]
    Archived,
    #[serde(rename = "group.moved")]
    Moved { parent_id: Option<GroupId> },
    #[serde(rename = "group.member_added")]
    MemberAdded { user_id: UserId, role: GroupRole },
    #[serde(rename = "group.member_role_changed")]
    MemberRoleChanged { user_id: UserId, role: GroupRole },
    #[serde(rename = "group.member_removed")]
    MemberRemoved { user_id: UserId },
    /// The group's own theme, whole: a `null` value is inherited from the group above.
    #[serde(rename = "group.theme_set")]
    ThemeSet { theme: Theme },
}

impl DomainEvent for GroupEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "group.created",
            Self::Renamed { .. } => "group.renamed",
            Self::Archived => "group.archived",
            Self::Moved { .. } => "group.moved",
            Self::MemberAdded { .. } => "group.member_added",
            Self::MemberRoleChanged { .. } => "group.member_role_changed",
            Self::MemberRemoved { .. } => "group.member_removed",
            Self::ThemeSet { .. } => "group.theme_set",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;
    use serde_json::json;

    fn name(s: &str) -> GroupName {
        GroupName::parse(s).unwrap()
    }

    #[test]
    fn created() {
        let parent: GroupId = "0195a3a0-0000-7000-8000-000000000001".parse().unwrap();
        let event = GroupEvent::Created {
            name: name("Lincoln High"),
            parent_id: Some(parent),
        };
        let golden = json!({"type": "group.created", "name": "Lincoln High",
                            "parent_id": "0195a3a0-0000-7000-8000-000000000001"});
        assert_eq!(serde_json::to_value(&event).unwrap(), golden);
        assert_eq!(serde_json::from_value::<GroupEvent>(golden).unwrap(), event);
        assert_eq!(event.event_type(), "group.created");
    }

    #[test]
    fn renamed() {
        let event = GroupEvent::Renamed { name: name("Math") };
        let golden = json!({"type": "group.renamed", "name": "Math"});
        assert_eq!(serde_json::to_value(&event).unwrap(), golden);
        assert_eq!(serde_json::from_value::<GroupEvent>(golden).unwrap(), event);
        assert_eq!(event.event_type(), "group.renamed");
    }

    #[test]
    fn membership_and_move() {
        let user: UserId = "0195a3a0-0000-7000-8000-000000000002".parse().unwrap();
        let event = GroupEvent::MemberAdded {
            user_id: user,
            role: GroupRole::Counselor,
        };
        let golden = json!({"type": "group.member_added",
                            "user_id": "0195a3a0-0000-7000-8000-000000000002",
                            "role": "counselor"});
        assert_eq!(serde_json::to_value(&event).unwrap(), golden);
        assert_eq!(serde_json::from_value::<GroupEvent>(golden).unwrap(), event);
        let moved = GroupEvent::Moved { parent_id: None };
        assert_eq!(
            serde_json::to_value(&moved).unwrap(),
            json!({"type": "group.moved", "parent_id": null})
        );
    }

    #[test]
    fn archived() {
        let golden = json!({"type": "group.archived"});
        assert_eq!(serde_json::to_value(GroupEvent::Archived).unwrap(), golden);
        assert_eq!(
            serde_json::from_value::<GroupEvent>(golden).unwrap(),
            GroupEvent::Archived
        );
        assert_eq!(GroupEvent::Archived.event_version(), "1");
    }

    #[test]
    fn theme_set() {
        use crate::aggregate::testing::assert_golden;
        use crate::theme::{Color, LogoUrl, ThemeName};
        assert_golden(
            GroupEvent::ThemeSet {
                theme: Theme {
                    display_name: Some(ThemeName::parse("Lincoln High").unwrap()),
                    primary_color: Some(Color::parse("#1d4ed8").unwrap()),
                    accent_color: None,
                    logo_url: Some(LogoUrl::parse("https://cdn.example.org/logo.png").unwrap()),
                },
            },
            json!({"type": "group.theme_set",
                   "theme": {"display_name": "Lincoln High", "primary_color": "#1d4ed8",
                             "accent_color": null,
                             "logo_url": "https://cdn.example.org/logo.png"}}),
        );
    }
}
