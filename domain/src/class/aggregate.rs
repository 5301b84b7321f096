//! The `Class` aggregate: the state a class's commands are decided on, the decisions (its
//! group must be active, one role per member) and their given/when/then tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ClassCommand, ClassError, ClassEvent, ClassGroup, ClassName, ClassRole};
use crate::group::GroupId;
use crate::theme::Theme;
use crate::user::UserId;
use crate::Aggregate;

/// The write-side state of one class: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Class {
    pub created: bool,
    pub group_id: Option<GroupId>,
    pub name: Option<ClassName>,
    pub archived: bool,
    pub members: BTreeMap<UserId, ClassRole>,
    /// The class's own theme (what it inherits depends on its group: the read side's).
    #[serde(default)]
    pub theme: Theme,
}

fn active_group(group: ClassGroup) -> Result<GroupId, ClassError> {
    match group {
        ClassGroup::Active(id) => Ok(id),
        ClassGroup::Archived(_) => Err(ClassError::GroupArchived),
        ClassGroup::Missing(_) => Err(ClassError::GroupNotFound),
    }
}

impl Class {
    fn ensure_active(&self) -> Result<(), ClassError> {
        if !self.created {
            return Err(ClassError::NotFound);
        }
        if self.archived {
            return Err(ClassError::Archived);
        }
        Ok(())
    }
}

impl Aggregate for Class {
    const TYPE: &'static str = "class";
    type Command = ClassCommand;
    type Event = ClassEvent;
    type Error = ClassError;

    fn handle(&self, command: ClassCommand) -> Result<Vec<ClassEvent>, ClassError> {
        match command {
            ClassCommand::Create { name, group } => {
                if self.created {
                    return Err(ClassError::AlreadyExists);
                }
                Ok(vec![ClassEvent::Created {
                    name,
                    group_id: active_group(group)?,
                }])
            }
            ClassCommand::Rename { name } => {
                self.ensure_active()?;
                if self.name.as_ref() == Some(&name) {
                    return Ok(vec![]);
                }
                Ok(vec![ClassEvent::Renamed { name }])
            }
            ClassCommand::Archive => {
                if !self.created {
                    return Err(ClassError::NotFound);
                }
                if self.archived {
                    return Ok(vec![]);
                }
                Ok(vec![ClassEvent::Archived])
            }
            ClassCommand::Move { group } => {
                self.ensure_active()?;
                let group_id = active_group(group)?;
                if Some(group_id) == self.group_id {
                    return Ok(vec![]);
                }
                Ok(vec![ClassEvent::Moved { group_id }])
            }
            ClassCommand::SetMember { user_id, role } => {
                self.ensure_active()?;
                match self.members.get(&user_id) {
                    Some(current) if *current == role => Ok(vec![]),
                    Some(_) => Ok(vec![ClassEvent::MemberRoleChanged { user_id, role }]),
                    None => Ok(vec![ClassEvent::MemberAdded { user_id, role }]),
                }
            }
            ClassCommand::RemoveMember { user_id } => {
                if !self.created {
                    return Err(ClassError::NotFound);
                }
                if !self.members.contains_key(&user_id) {
                    return Err(ClassError::MemberNotFound);
                }
                Ok(vec![ClassEvent::MemberRemoved { user_id }])
            }
            ClassCommand::SetTheme { theme } => {
                self.ensure_active()?;
                if theme == self.theme {
                    return Ok(vec![]);
                }
                Ok(vec![ClassEvent::ThemeSet { theme }])
            }
        }
    }

    fn apply(&mut self, event: ClassEvent) {
        match event {
            ClassEvent::Created { name, group_id } => {
                self.created = true;
                self.name = Some(name);
                self.group_id = Some(group_id);
            }
            ClassEvent::Renamed { name } => self.name = Some(name),
            ClassEvent::Archived => self.archived = true,
            ClassEvent::Moved { group_id } => self.group_id = Some(group_id),
            ClassEvent::MemberAdded { user_id, role }
            | ClassEvent::MemberRoleChanged { user_id, role } => {
                self.members.insert(user_id, role);
            }
            ClassEvent::MemberRemoved { user_id } => {
                self.members.remove(&user_id);
            }
            ClassEvent::ThemeSet { theme } => self.theme = theme,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};

    fn name(s: &str) -> ClassName {
        ClassName::parse(s).unwrap()
    }

    fn created() -> ClassEvent {
        ClassEvent::Created {
            name: name("Algebra"),
            group_id: GroupId::from_u128(1),
        }
    }

    #[test]
    fn create_needs_an_active_group() {
        given_no_previous_events::<Class>()
            .when(ClassCommand::Create {
                name: name("Algebra"),
                group: ClassGroup::Active(GroupId::from_u128(1)),
            })
            .then_expect_events(vec![created()]);
        given_no_previous_events::<Class>()
            .when(ClassCommand::Create {
                name: name("Algebra"),
                group: ClassGroup::Archived(GroupId::from_u128(1)),
            })
            .then_expect_error(ClassError::GroupArchived);
        given_no_previous_events::<Class>()
            .when(ClassCommand::Create {
                name: name("Algebra"),
                group: ClassGroup::Missing(GroupId::from_u128(1)),
            })
            .then_expect_error(ClassError::GroupNotFound);
    }

    #[test]
    fn rename_archive_move() {
        given::<Class>(vec![created()])
            .when(ClassCommand::Rename {
                name: name("Geometry"),
            })
            .then_expect_events(vec![ClassEvent::Renamed {
                name: name("Geometry"),
            }]);
        given::<Class>(vec![created(), ClassEvent::Archived])
            .when(ClassCommand::Rename {
                name: name("Geometry"),
            })
            .then_expect_error(ClassError::Archived);
        given::<Class>(vec![created()])
            .when(ClassCommand::Move {
                group: ClassGroup::Active(GroupId::from_u128(2)),
            })
            .then_expect_events(vec![ClassEvent::Moved {
                group_id: GroupId::from_u128(2),
            }]);
    }

    #[test]
    fn members_have_no_duplicates_and_none_in_archived_classes() {
        let user = UserId::from_u128(7);
        let added = ClassEvent::MemberAdded {
            user_id: user,
            role: ClassRole::Student,
        };
        given::<Class>(vec![created()])
            .when(ClassCommand::SetMember {
                user_id: user,
                role: ClassRole::Student,
            })
            .then_expect_events(vec![added.clone()]);
        given::<Class>(vec![created(), added.clone()])
            .when(ClassCommand::SetMember {
                user_id: user,
                role: ClassRole::Student,
            })
            .then_expect_events(vec![]);
        given::<Class>(vec![created(), ClassEvent::Archived])
            .when(ClassCommand::SetMember {
                user_id: user,
                role: ClassRole::Teacher,
            })
            .then_expect_error(ClassError::Archived);
        given::<Class>(vec![created()])
            .when(ClassCommand::RemoveMember { user_id: user })
            .then_expect_error(ClassError::MemberNotFound);
        given::<Class>(vec![created(), added])
            .when(ClassCommand::RemoveMember { user_id: user })
            .then_expect_events(vec![ClassEvent::MemberRemoved { user_id: user }]);
    }

    fn theme() -> Theme {
        Theme {
            display_name: Some(name("Algebra Explorers")),
            ..Theme::default()
        }
    }

    #[test]
    fn set_theme_records_the_whole_theme_once() {
        given::<Class>(vec![created()])
            .when(ClassCommand::SetTheme { theme: theme() })
            .then_expect_events(vec![ClassEvent::ThemeSet { theme: theme() }]);
        given::<Class>(vec![created(), ClassEvent::ThemeSet { theme: theme() }])
            .when(ClassCommand::SetTheme { theme: theme() })
            .then_expect_events(vec![]);
    }

    #[test]
    fn set_theme_of_an_archived_class_is_rejected() {
        given::<Class>(vec![created(), ClassEvent::Archived])
            .when(ClassCommand::SetTheme { theme: theme() })
            .then_expect_error(ClassError::Archived);
        given_no_previous_events::<Class>()
            .when(ClassCommand::SetTheme { theme: theme() })
            .then_expect_error(ClassError::NotFound);
    }
}
