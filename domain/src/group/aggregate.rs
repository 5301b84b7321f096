use serde::{Deserialize, Serialize};

use super::{GroupCommand, GroupError, GroupEvent, GroupId, GroupName, ParentGroup};
use crate::Aggregate;

/// The write-side state of one group: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub created: bool,
    pub name: Option<GroupName>,
    pub parent_id: Option<GroupId>,
    pub archived: bool,
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
        }
    }
}

impl Group {
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
