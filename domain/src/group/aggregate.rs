//! The `Group` aggregate: the state a group's commands are decided on, the decisions
//! (members and their roles, the last-admin rule, the move and its cycle check) and their
//! given/when/then tests.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{GroupCommand, GroupError, GroupEvent, GroupId, GroupName, GroupRole, ParentGroup};
use crate::theme::Theme;
use crate::user::UserId;
use crate::Aggregate;

/// The write-side state of one group: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub created: bool,
    pub name: Option<GroupName>,
    pub parent_id: Option<GroupId>,
    pub archived: bool,
    pub members: BTreeMap<UserId, GroupRole>,
    /// The group's own theme (what it inherits is the read side's: it depends on where the
    /// group is).
    #[serde(default)]
    pub theme: Theme,
}

impl Aggregate for Group {
    const TYPE: &'static str = "group";
    type Command = GroupCommand;
    type Event = GroupEvent;
    type Error = GroupError;

    fn handle(&self, command: GroupCommand) -> Result<Vec<GroupEvent>, GroupError> {
        match command {
            GroupCommand::Create { name, parent } => {
                if self.created {
                    return Err(GroupError::AlreadyExists);
                }
                let parent_id = match parent {
                    ParentGroup::None => None,
                    ParentGroup::Active(id) => Some(id),
                    ParentGroup::Archived(_) => return Err(GroupError::ParentArchived),
                    ParentGroup::Missing(_) => return Err(GroupError::ParentNotFound),
                };
                Ok(vec![GroupEvent::Created { name, parent_id }])
            }
            GroupCommand::Rename { name } => {
                self.ensure_active()?;
                if self.name.as_ref() == Some(&name) {
                    // Renaming to the current name changes nothing: no event.
                    return Ok(vec![]);
                }
                Ok(vec![GroupEvent::Renamed { name }])
            }
            GroupCommand::Move {
                group_id,
                parent,
                new_parent_path,
            } => {
                self.ensure_active()?;
                let parent_id = match parent {
                    ParentGroup::None => None,
                    ParentGroup::Active(id) => Some(id),
                    ParentGroup::Archived(_) => return Err(GroupError::ParentArchived),
                    ParentGroup::Missing(_) => return Err(GroupError::ParentNotFound),
                };
                if let Some(new_parent) = parent_id {
                    // The group itself, or any of its descendants, cannot become its parent:
                    // the new parent's chain would then contain the group.
                    if new_parent == group_id || new_parent_path.contains(&group_id) {
                        return Err(GroupError::Cycle);
                    }
                }
                if parent_id == self.parent_id {
                    return Ok(vec![]);
                }
                Ok(vec![GroupEvent::Moved { parent_id }])
            }
            GroupCommand::SetMember {
                user_id,
                role,
                by_system_admin,
            } => {
                self.ensure_active()?;
                match self.members.get(&user_id) {
                    Some(current) if *current == role => Ok(vec![]),
                    Some(current) => {
                        if *current == GroupRole::Admin {
                            self.ensure_not_last_admin(user_id, by_system_admin)?;
                        }
                        Ok(vec![GroupEvent::MemberRoleChanged { user_id, role }])
                    }
                    None => Ok(vec![GroupEvent::MemberAdded { user_id, role }]),
                }
            }
            GroupCommand::RemoveMember {
                user_id,
                by_system_admin,
            } => {
                if !self.created {
                    return Err(GroupError::NotFound);
                }
                match self.members.get(&user_id) {
                    None => Err(GroupError::MemberNotFound),
                    Some(role) => {
                        if *role == GroupRole::Admin {
                            self.ensure_not_last_admin(user_id, by_system_admin)?;
                        }
                        Ok(vec![GroupEvent::MemberRemoved { user_id }])
                    }
                }
            }
            GroupCommand::Archive => {
                if !self.created {
                    return Err(GroupError::NotFound);
                }
                if self.archived {
                    // Archiving is idempotent: asking twice records it once.
                    return Ok(vec![]);
                }
                Ok(vec![GroupEvent::Archived])
            }
            GroupCommand::SetTheme { theme } => {
                self.ensure_active()?;
                if theme == self.theme {
                    // The same theme again changes nothing: no event.
                    return Ok(vec![]);
                }
                Ok(vec![GroupEvent::ThemeSet { theme }])
            }
        }
    }

    fn apply(&mut self, event: GroupEvent) {
        match event {
            GroupEvent::Created { name, parent_id } => {
                self.created = true;
                self.name = Some(name);
                self.parent_id = parent_id;
            }
            GroupEvent::Renamed { name } => self.name = Some(name),
            GroupEvent::Archived => self.archived = true,
            GroupEvent::Moved { parent_id } => self.parent_id = parent_id,
            GroupEvent::MemberAdded { user_id, role }
            | GroupEvent::MemberRoleChanged { user_id, role } => {
                self.members.insert(user_id, role);
            }
            GroupEvent::MemberRemoved { user_id } => {
                self.members.remove(&user_id);
            }
            GroupEvent::ThemeSet { theme } => self.theme = theme,
        }
    }
}

impl Group {
    fn ensure_not_last_admin(
        &self,
        leaving: UserId,
        by_system_admin: bool,
    ) -> Result<(), GroupError> {
        let admins = self
            .members
            .iter()
            .filter(|(u, r)| **r == GroupRole::Admin && **u != leaving)
            .count();
        if admins == 0 && self.parent_id.is_none() && !by_system_admin {
            return Err(GroupError::LastAdmin);
        }
        Ok(())
    }

    fn ensure_active(&self) -> Result<(), GroupError> {
        if !self.created {
            return Err(GroupError::NotFound);
        }
        if self.archived {
            return Err(GroupError::Archived);
        }
        Ok(())
    }

    /// Whether the group exists and may receive children or changes.
    pub fn is_active(&self) -> bool {
        self.ensure_active().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};

    fn name(s: &str) -> GroupName {
        GroupName::parse(s).unwrap()
    }

    fn created() -> GroupEvent {
        GroupEvent::Created {
            name: name("District 9"),
            parent_id: None,
        }
    }

    #[test]
    fn create_records_creation() {
        let parent = GroupId::nil();
        given_no_previous_events::<Group>()
            .when(GroupCommand::Create {
                name: name("School"),
                parent: ParentGroup::Active(parent),
            })
            .then_expect_events(vec![GroupEvent::Created {
                name: name("School"),
                parent_id: Some(parent),
            }]);
    }

    #[test]
    fn create_under_missing_or_archived_parent_is_rejected() {
        let parent = GroupId::nil();
        given_no_previous_events::<Group>()
            .when(GroupCommand::Create {
                name: name("School"),
                parent: ParentGroup::Missing(parent),
            })
            .then_expect_error(GroupError::ParentNotFound);
        given_no_previous_events::<Group>()
            .when(GroupCommand::Create {
                name: name("School"),
                parent: ParentGroup::Archived(parent),
            })
            .then_expect_error(GroupError::ParentArchived);
    }

    #[test]
    fn create_twice_is_rejected() {
        given::<Group>(vec![created()])
            .when(GroupCommand::Create {
                name: name("Again"),
                parent: ParentGroup::None,
            })
            .then_expect_error(GroupError::AlreadyExists);
    }

    #[test]
    fn rename_records_new_name() {
        given::<Group>(vec![created()])
            .when(GroupCommand::Rename { name: name("D10") })
            .then_expect_events(vec![GroupEvent::Renamed { name: name("D10") }]);
    }

    #[test]
    fn rename_to_same_name_records_nothing() {
        given::<Group>(vec![created()])
            .when(GroupCommand::Rename {
                name: name("District 9"),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn rename_of_unknown_group_is_rejected() {
        given_no_previous_events::<Group>()
            .when(GroupCommand::Rename { name: name("X") })
            .then_expect_error(GroupError::NotFound);
    }

    #[test]
    fn rename_of_archived_group_is_rejected() {
        given::<Group>(vec![created(), GroupEvent::Archived])
            .when(GroupCommand::Rename { name: name("X") })
            .then_expect_error(GroupError::Archived);
    }

    #[test]
    fn archive_records_archival_once() {
        given::<Group>(vec![created()])
            .when(GroupCommand::Archive)
            .then_expect_events(vec![GroupEvent::Archived]);
        given::<Group>(vec![created(), GroupEvent::Archived])
            .when(GroupCommand::Archive)
            .then_expect_events(vec![]);
    }

    #[test]
    fn archive_of_unknown_group_is_rejected() {
        given_no_previous_events::<Group>()
            .when(GroupCommand::Archive)
            .then_expect_error(GroupError::NotFound);
    }

    fn uid(n: u128) -> UserId {
        UserId::from_u128(n)
    }

    fn member(n: u128, role: GroupRole) -> GroupEvent {
        GroupEvent::MemberAdded {
            user_id: uid(n),
            role,
        }
    }

    #[test]
    fn move_refuses_cycles_and_archived_targets() {
        let me = GroupId::from_u128(10);
        let child = GroupId::from_u128(11);
        given::<Group>(vec![created()])
            .when(GroupCommand::Move {
                group_id: me,
                parent: ParentGroup::Active(child),
                new_parent_path: vec![me, child],
            })
            .then_expect_error(GroupError::Cycle);
        given::<Group>(vec![created()])
            .when(GroupCommand::Move {
                group_id: me,
                parent: ParentGroup::Active(me),
                new_parent_path: vec![me],
            })
            .then_expect_error(GroupError::Cycle);
        given::<Group>(vec![created()])
            .when(GroupCommand::Move {
                group_id: me,
                parent: ParentGroup::Archived(child),
                new_parent_path: vec![],
            })
            .then_expect_error(GroupError::ParentArchived);
        let other = GroupId::from_u128(20);
        given::<Group>(vec![created()])
            .when(GroupCommand::Move {
                group_id: me,
                parent: ParentGroup::Active(other),
                new_parent_path: vec![other],
            })
            .then_expect_events(vec![GroupEvent::Moved {
                parent_id: Some(other),
            }]);
    }

    #[test]
    fn members_are_added_changed_and_removed_once() {
        given::<Group>(vec![created()])
            .when(GroupCommand::SetMember {
                user_id: uid(1),
                role: GroupRole::Member,
                by_system_admin: false,
            })
            .then_expect_events(vec![member(1, GroupRole::Member)]);
        given::<Group>(vec![created(), member(1, GroupRole::Member)])
            .when(GroupCommand::SetMember {
                user_id: uid(1),
                role: GroupRole::Member,
                by_system_admin: false,
            })
            .then_expect_events(vec![]);
        given::<Group>(vec![created(), member(1, GroupRole::Member)])
            .when(GroupCommand::SetMember {
                user_id: uid(1),
                role: GroupRole::Counselor,
                by_system_admin: false,
            })
            .then_expect_events(vec![GroupEvent::MemberRoleChanged {
                user_id: uid(1),
                role: GroupRole::Counselor,
            }]);
        given::<Group>(vec![created()])
            .when(GroupCommand::RemoveMember {
                user_id: uid(1),
                by_system_admin: false,
            })
            .then_expect_error(GroupError::MemberNotFound);
        given::<Group>(vec![created(), GroupEvent::Archived])
            .when(GroupCommand::SetMember {
                user_id: uid(1),
                role: GroupRole::Member,
                by_system_admin: true,
            })
            .then_expect_error(GroupError::Archived);
    }

    #[test]
    fn the_last_admin_of_a_top_level_group_stays_unless_a_system_admin_acts() {
        let history = vec![created(), member(1, GroupRole::Admin)];
        given::<Group>(history.clone())
            .when(GroupCommand::RemoveMember {
                user_id: uid(1),
                by_system_admin: false,
            })
            .then_expect_error(GroupError::LastAdmin);
        given::<Group>(history.clone())
            .when(GroupCommand::SetMember {
                user_id: uid(1),
                role: GroupRole::Member,
                by_system_admin: false,
            })
            .then_expect_error(GroupError::LastAdmin);
        given::<Group>(history.clone())
            .when(GroupCommand::RemoveMember {
                user_id: uid(1),
                by_system_admin: true,
            })
            .then_expect_events(vec![GroupEvent::MemberRemoved { user_id: uid(1) }]);
        let mut two = history.clone();
        two.push(member(2, GroupRole::Admin));
        given::<Group>(two)
            .when(GroupCommand::RemoveMember {
                user_id: uid(1),
                by_system_admin: false,
            })
            .then_expect_events(vec![GroupEvent::MemberRemoved { user_id: uid(1) }]);
        // Subgroups may lose their last admin: the parent's admins still manage them.
        let sub = vec![
            GroupEvent::Created {
                name: name("Sub"),
                parent_id: Some(GroupId::from_u128(9)),
            },
            member(1, GroupRole::Admin),
        ];
        given::<Group>(sub)
            .when(GroupCommand::RemoveMember {
                user_id: uid(1),
                by_system_admin: false,
            })
            .then_expect_events(vec![GroupEvent::MemberRemoved { user_id: uid(1) }]);
    }

    fn theme() -> Theme {
        use crate::theme::Color;
        Theme {
            accent_color: Some(Color::parse("#f59e0b").unwrap()),
            ..Theme::default()
        }
    }

    #[test]
    fn set_theme_records_the_whole_theme_once() {
        given::<Group>(vec![created()])
            .when(GroupCommand::SetTheme { theme: theme() })
            .then_expect_events(vec![GroupEvent::ThemeSet { theme: theme() }]);
        given::<Group>(vec![created(), GroupEvent::ThemeSet { theme: theme() }])
            .when(GroupCommand::SetTheme { theme: theme() })
            .then_expect_events(vec![]);
        // Clearing every value goes back to inheriting all of them.
        given::<Group>(vec![created(), GroupEvent::ThemeSet { theme: theme() }])
            .when(GroupCommand::SetTheme {
                theme: Theme::default(),
            })
            .then_expect_events(vec![GroupEvent::ThemeSet {
                theme: Theme::default(),
            }]);
    }

    #[test]
    fn set_theme_of_an_archived_or_unknown_group_is_rejected() {
        given::<Group>(vec![created(), GroupEvent::Archived])
            .when(GroupCommand::SetTheme { theme: theme() })
            .then_expect_error(GroupError::Archived);
        given_no_previous_events::<Group>()
            .when(GroupCommand::SetTheme { theme: theme() })
            .then_expect_error(GroupError::NotFound);
    }

    #[test]
    fn fold_rebuilds_state() {
        let state = Group::fold(vec![
            created(),
            GroupEvent::Renamed { name: name("D10") },
            GroupEvent::Archived,
        ]);
        assert!(state.created && state.archived);
        assert_eq!(state.name, Some(name("D10")));
        assert!(!state.is_active());
    }
}
