//! The `Tool` aggregate: the state a tool's commands are decided on, the decisions (created
//! in an active group, a bounded description) and their given/when/then tests.

use serde::{Deserialize, Serialize};

use super::{ToolCommand, ToolError, ToolEvent, ToolGroup, ToolName};
use crate::group::GroupId;
use crate::Aggregate;

/// A tool's description: at most 2,000 characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// The write-side state of one tool: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub created: bool,
    pub group_id: Option<GroupId>,
    pub name: Option<ToolName>,
    pub description: String,
    pub archived: bool,
}

fn check_description(description: &str) -> Result<(), ToolError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ToolError::DescriptionTooLong);
    }
    Ok(())
}

impl Aggregate for Tool {
    const TYPE: &'static str = "tool";
    type Command = ToolCommand;
    type Event = ToolEvent;
    type Error = ToolError;

    fn handle(&self, command: ToolCommand) -> Result<Vec<ToolEvent>, ToolError> {
        match command {
            ToolCommand::Create {
                group,
                name,
                description,
            } => {
                if self.created {
                    return Err(ToolError::AlreadyExists);
                }
                check_description(&description)?;
                let group_id = match group {
                    ToolGroup::Active(id) => id,
                    ToolGroup::Archived(_) => return Err(ToolError::GroupArchived),
                    ToolGroup::Missing(_) => return Err(ToolError::GroupNotFound),
                };
                Ok(vec![ToolEvent::Created {
                    group_id,
                    name,
                    description,
                }])
            }
            ToolCommand::Update { name, description } => {
                if !self.created {
                    return Err(ToolError::NotFound);
                }
                if self.archived {
                    return Err(ToolError::Archived);
                }
                let name = name
                    .or_else(|| self.name.clone())
                    .ok_or(ToolError::NotFound)?;
                let description = description.unwrap_or_else(|| self.description.clone());
                check_description(&description)?;
                if Some(&name) == self.name.as_ref() && description == self.description {
                    return Ok(vec![]);
                }
                Ok(vec![ToolEvent::Updated { name, description }])
            }
            ToolCommand::Archive => {
                if !self.created {
                    return Err(ToolError::NotFound);
                }
                if self.archived {
                    return Ok(vec![]);
                }
                Ok(vec![ToolEvent::Archived])
            }
        }
    }

    fn apply(&mut self, event: ToolEvent) {
        match event {
            ToolEvent::Created {
                group_id,
                name,
                description,
            } => {
                self.created = true;
                self.group_id = Some(group_id);
                self.name = Some(name);
                self.description = description;
            }
            ToolEvent::Updated { name, description } => {
                self.name = Some(name);
                self.description = description;
            }
            ToolEvent::Archived => self.archived = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};

    fn name(s: &str) -> ToolName {
        ToolName::parse(s).unwrap()
    }

    fn created() -> ToolEvent {
        ToolEvent::Created {
            group_id: GroupId::from_u128(1),
            name: name("Socratic tutor"),
            description: "Asks questions".into(),
        }
    }

    #[test]
    fn create_in_an_active_group() {
        given_no_previous_events::<Tool>()
            .when(ToolCommand::Create {
                group: ToolGroup::Active(GroupId::from_u128(1)),
                name: name("Socratic tutor"),
                description: "Asks questions".into(),
            })
            .then_expect_events(vec![created()]);
        given_no_previous_events::<Tool>()
            .when(ToolCommand::Create {
                group: ToolGroup::Archived(GroupId::from_u128(1)),
                name: name("X"),
                description: String::new(),
            })
            .then_expect_error(ToolError::GroupArchived);
        given_no_previous_events::<Tool>()
            .when(ToolCommand::Create {
                group: ToolGroup::Active(GroupId::from_u128(1)),
                name: name("X"),
                description: "d".repeat(2001),
            })
            .then_expect_error(ToolError::DescriptionTooLong);
    }

    #[test]
    fn update_and_archive() {
        given::<Tool>(vec![created()])
            .when(ToolCommand::Update {
                name: None,
                description: Some("Guides".into()),
            })
            .then_expect_events(vec![ToolEvent::Updated {
                name: name("Socratic tutor"),
                description: "Guides".into(),
            }]);
        given::<Tool>(vec![created()])
            .when(ToolCommand::Update {
                name: None,
                description: None,
            })
            .then_expect_events(vec![]);
        given::<Tool>(vec![created(), ToolEvent::Archived])
            .when(ToolCommand::Update {
                name: Some(name("Y")),
                description: None,
            })
            .then_expect_error(ToolError::Archived);
    }
}
