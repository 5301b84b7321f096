//! The `Assignment` aggregate: the state an assignment's commands are decided on and their
//! given/when/then tests.
//!
//! Life: `draft` (only the class's teachers see it) → `published` (students read it and
//! submit) → `closed` (no more submissions; grading goes on). Archiving hides it from
//! everyone but the adults of the class and is final. Title, instructions, tool and due time
//! change until it is closed; the maximum score only while it is a draft, so no grade given
//! can end up above it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    AssignmentClass, AssignmentCommand, AssignmentError, AssignmentEvent, AssignmentTitle,
    AssignmentTool, AssignmentUpdate,
};
use crate::Aggregate;

/// Instructions: at most 20,000 characters.
pub const MAX_INSTRUCTIONS_CHARS: usize = 20_000;
/// The largest maximum score an assignment may set.
pub const MAX_SCORE_LIMIT: u32 = 10_000;

/// Where an assignment is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    #[default]
    Draft,
    Published,
    Closed,
}

impl AssignmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Closed => "closed",
        }
    }
}

/// The write-side state of one assignment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub created: bool,
    pub class_id: Option<Uuid>,
    pub title: Option<AssignmentTitle>,
    pub instructions: String,
    pub tool_id: Option<Uuid>,
    pub due_at: Option<DateTime<Utc>>,
    pub max_score: Option<u32>,
    pub status: AssignmentStatus,
    pub archived: bool,
}

fn check_instructions(instructions: &str) -> Result<(), AssignmentError> {
    if instructions.chars().count() > MAX_INSTRUCTIONS_CHARS {
        return Err(AssignmentError::InstructionsTooLong);
    }
    Ok(())
}

fn check_max_score(max_score: Option<u32>) -> Result<(), AssignmentError> {
    match max_score {
        Some(0) => Err(AssignmentError::InvalidMaxScore),
        Some(n) if n > MAX_SCORE_LIMIT => Err(AssignmentError::InvalidMaxScore),
        _ => Ok(()),
    }
}

fn tool_id(tool: Option<AssignmentTool>) -> Result<Option<Uuid>, AssignmentError> {
    match tool {
        None => Ok(None),
        Some(AssignmentTool::Offered(id)) => Ok(Some(id)),
        Some(AssignmentTool::NotOffered(_)) => Err(AssignmentError::ToolNotOffered),
    }
}

impl Assignment {
    /// A command on an assignment that exists and is not archived.
    fn live(&self) -> Result<(), AssignmentError> {
        if !self.created {
            return Err(AssignmentError::NotFound);
        }
        if self.archived {
            return Err(AssignmentError::Archived);
        }
        Ok(())
    }

    fn update(&self, update: AssignmentUpdate) -> Result<Vec<AssignmentEvent>, AssignmentError> {
        self.live()?;
        if self.status == AssignmentStatus::Closed {
            return Err(AssignmentError::Closed);
        }
        let title = match update.title {
            Some(title) => title,
            None => self.title.clone().ok_or(AssignmentError::NotFound)?,
        };
        let instructions = update
            .instructions
            .unwrap_or_else(|| self.instructions.clone());
        check_instructions(&instructions)?;
        let tool_id = match update.tool {
            Some(tool) => tool_id(tool)?,
            None => self.tool_id,
        };
        let due_at = update.due_at.unwrap_or(self.due_at);
        let max_score = update.max_score.unwrap_or(self.max_score);
        check_max_score(max_score)?;
        if max_score != self.max_score && self.status != AssignmentStatus::Draft {
            return Err(AssignmentError::MaxScoreFixed);
        }
        let unchanged = Some(&title) == self.title.as_ref()
            && instructions == self.instructions
            && tool_id == self.tool_id
            && due_at == self.due_at
            && max_score == self.max_score;
        if unchanged {
            return Ok(vec![]);
        }
        Ok(vec![AssignmentEvent::Updated {
            title,
            instructions,
            tool_id,
            due_at,
            max_score,
        }])
    }

    /// Moves from `from` to the next status; asking for the status it already has changes
    /// nothing (a retried request).
    fn advance(
        &self,
        from: AssignmentStatus,
        to: AssignmentStatus,
        event: AssignmentEvent,
    ) -> Result<Vec<AssignmentEvent>, AssignmentError> {
        self.live()?;
        if self.status == to {
            return Ok(vec![]);
        }
        if self.status != from {
            return Err(AssignmentError::WrongStatus(
                self.status.as_str(),
                from.as_str(),
            ));
        }
        Ok(vec![event])
    }
}

impl Aggregate for Assignment {
    const TYPE: &'static str = "assignment";
    type Command = AssignmentCommand;
    type Event = AssignmentEvent;
    type Error = AssignmentError;

    fn handle(&self, command: AssignmentCommand) -> Result<Vec<AssignmentEvent>, AssignmentError> {
        match command {
            AssignmentCommand::Create {
                class,
                title,
                instructions,
                tool,
                due_at,
                max_score,
            } => {
                if self.created {
                    return Err(AssignmentError::AlreadyExists);
                }
                let class_id = match class {
                    AssignmentClass::Active(id) => id,
                    AssignmentClass::Archived(_) => return Err(AssignmentError::ClassArchived),
                    AssignmentClass::Missing(_) => return Err(AssignmentError::ClassNotFound),
                };
                check_instructions(&instructions)?;
                check_max_score(max_score)?;
                Ok(vec![AssignmentEvent::Created {
                    class_id,
                    title,
                    instructions,
                    tool_id: tool_id(tool)?,
                    due_at,
                    max_score,
                }])
            }
            AssignmentCommand::Update(update) => self.update(update),
            AssignmentCommand::Publish => self.advance(
                AssignmentStatus::Draft,
                AssignmentStatus::Published,
                AssignmentEvent::Published,
            ),
            AssignmentCommand::Close => self.advance(
                AssignmentStatus::Published,
                AssignmentStatus::Closed,
                AssignmentEvent::Closed,
            ),
            AssignmentCommand::Archive => {
                if !self.created {
                    return Err(AssignmentError::NotFound);
                }
                if self.archived {
                    return Ok(vec![]);
                }
                Ok(vec![AssignmentEvent::Archived])
            }
        }
    }

    fn apply(&mut self, event: AssignmentEvent) {
        match event {
            AssignmentEvent::Created {
                class_id,
                title,
                instructions,
                tool_id,
                due_at,
                max_score,
            } => {
                self.created = true;
                self.class_id = Some(class_id);
                self.title = Some(title);
                self.instructions = instructions;
                self.tool_id = tool_id;
                self.due_at = due_at;
                self.max_score = max_score;
            }
            AssignmentEvent::Updated {
                title,
                instructions,
                tool_id,
                due_at,
                max_score,
            } => {
                self.title = Some(title);
                self.instructions = instructions;
                self.tool_id = tool_id;
                self.due_at = due_at;
                self.max_score = max_score;
            }
            AssignmentEvent::Published => self.status = AssignmentStatus::Published,
            AssignmentEvent::Closed => self.status = AssignmentStatus::Closed,
            AssignmentEvent::Archived => self.archived = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};

    fn title(s: &str) -> AssignmentTitle {
        AssignmentTitle::parse(s).unwrap()
    }

    fn created() -> AssignmentEvent {
        AssignmentEvent::Created {
            class_id: Uuid::from_u128(1),
            title: title("Fractions"),
            instructions: "Add them".into(),
            tool_id: None,
            due_at: None,
            max_score: Some(10),
        }
    }

    fn create(class: AssignmentClass, tool: Option<AssignmentTool>) -> AssignmentCommand {
        AssignmentCommand::Create {
            class,
            title: title("Fractions"),
            instructions: "Add them".into(),
            tool,
            due_at: None,
            max_score: Some(10),
        }
    }

    #[test]
    fn create_in_an_active_class() {
        given_no_previous_events::<Assignment>()
            .when(create(AssignmentClass::Active(Uuid::from_u128(1)), None))
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn create_is_refused_in_an_archived_class_or_with_a_tool_not_offered() {
        given_no_previous_events::<Assignment>()
            .when(create(AssignmentClass::Archived(Uuid::from_u128(1)), None))
            .then_expect_error(AssignmentError::ClassArchived);
        given_no_previous_events::<Assignment>()
            .when(create(
                AssignmentClass::Active(Uuid::from_u128(1)),
                Some(AssignmentTool::NotOffered(Uuid::from_u128(2))),
            ))
            .then_expect_error(AssignmentError::ToolNotOffered);
        given::<Assignment>(vec![created()])
            .when(create(AssignmentClass::Active(Uuid::from_u128(1)), None))
            .then_expect_error(AssignmentError::AlreadyExists);
    }

    #[test]
    fn update_changes_what_it_names() {
        given::<Assignment>(vec![created()])
            .when(AssignmentCommand::Update(AssignmentUpdate {
                instructions: Some("Add and simplify".into()),
                ..AssignmentUpdate::default()
            }))
            .then_expect_events(vec![AssignmentEvent::Updated {
                title: title("Fractions"),
                instructions: "Add and simplify".into(),
                tool_id: None,
                due_at: None,
                max_score: Some(10),
            }]);
        given::<Assignment>(vec![created()])
            .when(AssignmentCommand::Update(AssignmentUpdate::default()))
            .then_expect_events(vec![]);
    }

    #[test]
    fn the_maximum_score_is_fixed_once_published_and_nothing_changes_once_closed() {
        given::<Assignment>(vec![created(), AssignmentEvent::Published])
            .when(AssignmentCommand::Update(AssignmentUpdate {
                max_score: Some(Some(20)),
                ..AssignmentUpdate::default()
            }))
            .then_expect_error(AssignmentError::MaxScoreFixed);
        given::<Assignment>(vec![
            created(),
            AssignmentEvent::Published,
            AssignmentEvent::Closed,
        ])
        .when(AssignmentCommand::Update(AssignmentUpdate {
            title: Some(title("Other")),
            ..AssignmentUpdate::default()
        }))
        .then_expect_error(AssignmentError::Closed);
        given::<Assignment>(vec![created()])
            .when(AssignmentCommand::Update(AssignmentUpdate {
                max_score: Some(Some(0)),
                ..AssignmentUpdate::default()
            }))
            .then_expect_error(AssignmentError::InvalidMaxScore);
    }

    #[test]
    fn publish_then_close() {
        given::<Assignment>(vec![created()])
            .when(AssignmentCommand::Publish)
            .then_expect_events(vec![AssignmentEvent::Published]);
        given::<Assignment>(vec![created(), AssignmentEvent::Published])
            .when(AssignmentCommand::Publish)
            .then_expect_events(vec![]);
        given::<Assignment>(vec![created(), AssignmentEvent::Published])
            .when(AssignmentCommand::Close)
            .then_expect_events(vec![AssignmentEvent::Closed]);
    }

    #[test]
    fn a_draft_cannot_close_and_a_closed_one_cannot_publish_again() {
        given::<Assignment>(vec![created()])
            .when(AssignmentCommand::Close)
            .then_expect_error(AssignmentError::WrongStatus("draft", "published"));
        given::<Assignment>(vec![
            created(),
            AssignmentEvent::Published,
            AssignmentEvent::Closed,
        ])
        .when(AssignmentCommand::Publish)
        .then_expect_error(AssignmentError::WrongStatus("closed", "draft"));
    }

    #[test]
    fn archive_is_final() {
        given::<Assignment>(vec![created()])
            .when(AssignmentCommand::Archive)
            .then_expect_events(vec![AssignmentEvent::Archived]);
        given::<Assignment>(vec![created(), AssignmentEvent::Archived])
            .when(AssignmentCommand::Publish)
            .then_expect_error(AssignmentError::Archived);
        given_no_previous_events::<Assignment>()
            .when(AssignmentCommand::Archive)
            .then_expect_error(AssignmentError::NotFound);
    }
}
