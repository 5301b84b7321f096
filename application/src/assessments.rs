//! Assessment use cases: recording one with its trace (the server computes the content hash)
//! and reviewing it.

use std::sync::Arc;

use domain::assessment::{
    canonical_content, Assessment, AssessmentCommand, AssessmentError, AssessmentId,
    CriterionScore, Trace,
};
use domain::user::UserId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner};

pub type AssessmentCommandError = CommandError<AssessmentError>;

/// Hex SHA-256 of the canonical input snapshot and raw response (see
/// [`domain::assessment::canonical_content`]).
pub fn content_hash(input_snapshot: &Value, raw_response: &str) -> String {
    hex::encode(Sha256::digest(
        canonical_content(input_snapshot, raw_response).as_bytes(),
    ))
}

/// What the tutoring service sends, before the server adds the hash.
#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub assignment_id: Option<Uuid>,
    pub scores: Vec<CriterionScore>,
    pub confidence: f64,
    pub model: String,
    pub prompt_hash: String,
    pub input_snapshot: Value,
    pub raw_response: String,
    pub parsed_result: Value,
}

/// The session an assessment is about, as looked up by the caller (authorization did).
#[derive(Debug, Clone, Copy)]
pub struct AssessedSession {
    pub id: Uuid,
    pub class_id: Uuid,
    pub group_id: Uuid,
    pub student_id: UserId,
}

pub struct Assessments {
    runner: CommandRunner<Assessment>,
}

impl Assessments {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool, listener),
        }
    }

    pub async fn record(
        &self,
        context: &CommandContext,
        session: AssessedSession,
        new: NewAssessment,
    ) -> Result<(AssessmentId, Appended), AssessmentCommandError> {
        let id = Uuid::now_v7();
        let content_hash = content_hash(&new.input_snapshot, &new.raw_response);
        let command = AssessmentCommand::Record {
            learning_session_id: session.id,
            class_id: session.class_id,
            group_id: session.group_id,
            student_id: session.student_id,
            assignment_id: new.assignment_id,
            scores: new.scores,
            confidence: new.confidence,
            trace: Box::new(Trace {
                model: new.model,
                prompt_hash: new.prompt_hash,
                input_snapshot: new.input_snapshot,
                raw_response: new.raw_response,
                parsed_result: new.parsed_result,
                content_hash,
            }),
        };
        let appended = self.runner.execute_new(id, command, context).await?;
        Ok((id, appended))
    }

    pub async fn review(
        &self,
        context: &CommandContext,
        id: AssessmentId,
        reviewer_id: UserId,
        notes: Option<String>,
    ) -> Result<Appended, AssessmentCommandError> {
        self.runner
            .execute(
                id,
                AssessmentCommand::Review { reviewer_id, notes },
                context,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_of_the_canonical_content() {
        let input = serde_json::json!({"b": 1, "a": [true, null]});
        assert_eq!(
            content_hash(&input, "ok"),
            hex::encode(Sha256::digest(
                br#"{"input":{"a":[true,null],"b":1},"response":"ok"}"#
            ))
        );
    }
}
