//! `raptscallions demo`: a sample school to explore the service with, made through the
//! ordinary use cases (the same commands the API runs), so that the log, the read models, the
//! reactions and the workflows see it as they would see a real one. Its events carry the actor
//! [`ACTOR`].
//!
//! The story: the district [`DISTRICT`] with two schools; a tutoring tool of the district;
//! three classes; a system admin, a district counselor, a school admin, three teachers and six
//! students; learning sessions with messages and a detection of each kind (a struggle and
//! its recovery, misbehavior, a safety concern); two assessments, one of them waiting for a
//! teacher's review. [`TEACHER_EMAIL`]'s class [`CLASS`] has something on every counter of its
//! dashboard.
//!
//! Every command is a step with a correlation id of its own (`demo:<step>`). Before running a
//! step, the demo looks in the log for an event of [`ACTOR`] with that correlation id
//! (`application::store::lookups::stream_of_correlation`); when there is one, the step is
//! done and its stream is reused. So a second run appends nothing and says the school is
//! already there, and a run that was interrupted is completed by the next one.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, ensure, Context as _};
use application::assessments::{AssessedSession, Assessments, NewAssessment};
use application::assignments::{Assignments, Submissions};
use application::classes::Classes;
use application::groups::Groups;
use application::identity::{Identity, IdentityError, IdentitySettings};
use application::learning::LearningSessions;
use application::ports::{NoListener, SystemClock};
use application::store::lookups;
use application::tools::Tools;
use application::{Appended, CommandContext};
use domain::assessment::{Assessment, CriterionScore};
use domain::assignment::{Assignment, AssignmentCommand, AssignmentTitle};
use domain::class::{Class, ClassName, ClassRole};
use domain::group::{Group, GroupName, GroupRole};
use domain::learning::{Detection, LearningSession, MessageRole, Severity, Urgency};
use domain::submission::Submission;
use domain::tool::{Tool, ToolName};
use domain::user::{DisplayName, Email, Password, User, UserId};
use domain::Aggregate as _;
use infrastructure::config;
use infrastructure::mail::NoMailer;
use infrastructure::passwords::Argon2Hasher;
use sqlx::PgPool;
use uuid::Uuid;

/// The actor of every event the demo appends.
pub const ACTOR: &str = "system:demo";

/// The password of every demo account: fixed and published, for a machine nobody else reaches.
pub const PASSWORD: &str = "raptscallions-demo";

/// The name of the demo district.
pub const DISTRICT: &str = "Raptscallions Demo District";

/// The teacher whose class has something on every dashboard counter.
pub const TEACHER_EMAIL: &str = "tess.teacher@demo.example";

/// That teacher's class.
pub const CLASS: &str = "Algebra 1";

/// Someone with a demo account.
struct Person {
    key: &'static str,
    name: &'static str,
    email: &'static str,
    /// What they are in the school, as printed.
    role: &'static str,
    system_admin: bool,
}

const PEOPLE: &[Person] = &[
    Person {
        key: "sam",
        name: "Sam Sysadmin",
        email: "sam.sysadmin@demo.example",
        role: "system admin",
        system_admin: true,
    },
    Person {
        key: "cora",
        name: "Cora Counselor",
        email: "cora.counselor@demo.example",
        role: "counselor, whole district",
        system_admin: false,
    },
    Person {
        key: "pat",
        name: "Pat Principal",
        email: "pat.principal@demo.example",
        role: "admin, Harbor Middle School",
        system_admin: false,
    },
    Person {
        key: "tess",
        name: "Tess Teacher",
        email: TEACHER_EMAIL,
        role: "teacher, Algebra 1 (Harbor)",
        system_admin: false,
    },
    Person {
        key: "theo",
        name: "Theo Teacher",
        email: "theo.teacher@demo.example",
        role: "teacher, Biology (Harbor)",
        system_admin: false,
    },
    Person {
        key: "rita",
        name: "Rita Rivera",
        email: "rita.rivera@demo.example",
        role: "teacher, Chemistry (Ridge)",
        system_admin: false,
    },
    Person {
        key: "ava",
        name: "Ava Alvarez",
        email: "ava.student@demo.example",
        role: "student, Algebra 1",
        system_admin: false,
    },
    Person {
        key: "ben",
        name: "Ben Brooks",
        email: "ben.student@demo.example",
        role: "student, Algebra 1",
        system_admin: false,
    },
    Person {
        key: "chloe",
        name: "Chloe Chen",
        email: "chloe.student@demo.example",
        role: "student, Algebra 1",
        system_admin: false,
    },
    Person {
        key: "dev",
        name: "Dev Desai",
        email: "dev.student@demo.example",
        role: "student, Biology",
        system_admin: false,
    },
    Person {
        key: "eli",
        name: "Eli Evans",
        email: "eli.student@demo.example",
        role: "student, Chemistry",
        system_admin: false,
    },
    Person {
        key: "fay",
        name: "Fay Fischer",
        email: "fay.student@demo.example",
        role: "student, Chemistry",
        system_admin: false,
    },
];

/// What the run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Steps that appended events in this run.
    pub appended: usize,
    /// Steps an earlier run had done.
    pub found: usize,
    /// Demo emails that belonged to accounts made outside the demo (their passwords are not
    /// the demo password).
    pub foreign_accounts: Vec<&'static str>,
}

/// The use cases the demo runs, on `DATABASE_URL`, without the HTTP server.
struct UseCases {
    pool: PgPool,
    identity: Identity,
    groups: Groups,
    classes: Classes,
    tools: Tools,
    learning: LearningSessions,
    assessments: Assessments,
    assignments: Assignments,
    submissions: Submissions,
}

/// The steps of one run: which were done before, which this run did.
struct Steps {
    pool: PgPool,
    outcome: Outcome,
    /// Stop with an error once this many steps appended (an interrupted run, for tests).
    stop_after: Option<usize>,
}

impl Steps {
    /// Runs step `key` (whose events go to a stream of `aggregate_type`) unless an earlier
    /// run did it; returns the id of the stream it made or changed.
    async fn run(
        &mut self,
        key: &str,
        aggregate_type: &str,
        command: impl AsyncFnOnce(CommandContext) -> anyhow::Result<(Uuid, Appended)>,
    ) -> anyhow::Result<Uuid> {
        let correlation_id = format!("demo:{key}");
        if let Some((found_type, id)) =
            lookups::stream_of_correlation(&self.pool, ACTOR, &correlation_id)
                .await
                .context("looking for the steps of an earlier run")?
        {
            ensure!(
                found_type == aggregate_type,
                "step {key}: the log holds a {found_type} stream for it, not a {aggregate_type}"
            );
            self.outcome.found += 1;
            return id.parse().with_context(|| format!("step {key}: stream id"));
        }
        if let Some(limit) = self.stop_after {
            if self.outcome.appended >= limit {
                bail!("stopped after {limit} steps (--stop-after)");
            }
        }
        let context = CommandContext {
            actor: ACTOR.to_owned(),
            correlation_id,
            causation_id: None,
        };
        let (id, appended) = command(context)
            .await
            .with_context(|| format!("step {key}"))?;
        if appended.recorded_at.is_some() {
            self.outcome.appended += 1;
        }
        Ok(id)
    }
}

/// One message of a session: the student's or the tutor's.
fn student(text: &str) -> (MessageRole, String) {
    (MessageRole::Student, text.to_owned())
}

fn tutor(text: &str) -> (MessageRole, String) {
    (MessageRole::Assistant, text.to_owned())
}

/// What happens in one learning session, in order.
enum Turn {
    Message(MessageRole, String),
    Detect(Detection),
    Complete {
        summary: String,
        topics: Vec<String>,
    },
}

impl From<(MessageRole, String)> for Turn {
    fn from((role, text): (MessageRole, String)) -> Self {
        Turn::Message(role, text)
    }
}

/// Where a session takes place.
#[derive(Clone, Copy)]
struct Place {
    class_id: Uuid,
    /// The class's group and the groups above it, from the district down.
    group_path: [Uuid; 2],
}

impl UseCases {
    async fn group(
        &self,
        steps: &mut Steps,
        key: &str,
        name: &str,
        parent: Option<Uuid>,
    ) -> anyhow::Result<Uuid> {
        let name = GroupName::parse(name).map_err(|e| anyhow::anyhow!("group name: {e}"))?;
        steps
            .run(&format!("group:{key}"), Group::TYPE, async |context| {
                Ok(self.groups.create(&context, name, parent).await?)
            })
            .await
    }

    async fn class(
        &self,
        steps: &mut Steps,
        key: &str,
        group: Uuid,
        name: &str,
    ) -> anyhow::Result<Uuid> {
        let name = ClassName::parse(name).map_err(|e| anyhow::anyhow!("class name: {e}"))?;
        steps
            .run(&format!("class:{key}"), Class::TYPE, async |context| {
                Ok(self.classes.create(&context, group, name).await?)
            })
            .await
    }

    /// The account of `person`, made with the demo password (or found, when the email was
    /// registered outside the demo).
    async fn account(&self, steps: &mut Steps, person: &'static Person) -> anyhow::Result<UserId> {
        let email = Email::parse(person.email).map_err(|e| anyhow::anyhow!("email: {e}"))?;
        let name = DisplayName::parse(person.name).map_err(|e| anyhow::anyhow!("name: {e}"))?;
        let password = Password::parse(PASSWORD).map_err(|e| anyhow::anyhow!("password: {e}"))?;
        let system_admin = person.system_admin;
        let mut foreign = false;
        let id = steps
            .run(
                &format!("user:{}", person.key),
                User::TYPE,
                async |context| match self
                    .identity
                    .create_account(&context, email.clone(), name, &password, system_admin)
                    .await
                {
                    Ok(account) => Ok((
                        account.id,
                        Appended {
                            position: None,
                            recorded_at: Some(account.created_at),
                        },
                    )),
                    Err(IdentityError::EmailTaken) => {
                        foreign = true;
                        let id = self
                            .identity
                            .user_id_for(&email)
                            .await?
                            .context("the email is taken, but by no account")?;
                        Ok((
                            id,
                            Appended {
                                position: None,
                                recorded_at: None,
                            },
                        ))
                    }
                    Err(e) => Err(e.into()),
                },
            )
            .await?;
        if foreign {
            steps.outcome.foreign_accounts.push(person.email);
        }
        Ok(id)
    }

    async fn group_member(
        &self,
        steps: &mut Steps,
        (place, group): (&str, Uuid),
        who: (&str, UserId),
        role: GroupRole,
    ) -> anyhow::Result<()> {
        steps
            .run(
                &format!("group-member:{place}:{}", who.0),
                Group::TYPE,
                async |context| {
                    let appended = self
                        .groups
                        .set_member(&context, group, who.1, role, true)
                        .await?;
                    Ok((group, appended))
                },
            )
            .await?;
        Ok(())
    }

    async fn class_member(
        &self,
        steps: &mut Steps,
        (place, class): (&str, Uuid),
        who: (&str, UserId),
        role: ClassRole,
    ) -> anyhow::Result<()> {
        steps
            .run(
                &format!("class-member:{place}:{}", who.0),
                Class::TYPE,
                async |context| {
                    let appended = self
                        .classes
                        .set_member(&context, class, who.1, role)
                        .await?;
                    Ok((class, appended))
                },
            )
            .await?;
        Ok(())
    }

    /// A learning session of `student` with `tool` in `place`, and what happens in it.
    async fn session(
        &self,
        steps: &mut Steps,
        key: &str,
        student: UserId,
        place: Place,
        tool: Uuid,
        turns: Vec<Turn>,
    ) -> anyhow::Result<Uuid> {
        let session = steps
            .run(
                &format!("session:{key}"),
                LearningSession::TYPE,
                async |context| {
                    Ok(self
                        .learning
                        .start(&context, student, place.class_id, &place.group_path, tool)
                        .await?)
                },
            )
            .await?;
        for (n, turn) in turns.into_iter().enumerate() {
            let step = format!("session:{key}:{n}");
            steps
                .run(&step, LearningSession::TYPE, async |context| {
                    let learning = &self.learning;
                    let appended = match turn {
                        Turn::Message(role, text) => {
                            learning.post_message(&context, session, role, text).await?
                        }
                        Turn::Detect(detection) => {
                            learning
                                .record_detection(&context, session, detection)
                                .await?
                                .0
                        }
                        Turn::Complete { summary, topics } => {
                            learning
                                .complete(&context, session, summary, topics)
                                .await?
                        }
                    };
                    Ok((session, appended))
                })
                .await?;
        }
        Ok(session)
    }

    #[allow(clippy::too_many_arguments)]
    async fn assessment(
        &self,
        steps: &mut Steps,
        key: &str,
        session: Uuid,
        student: UserId,
        place: Place,
        scores: &[(&str, f64, f64)],
        confidence: f64,
        transcript: &[&str],
    ) -> anyhow::Result<Uuid> {
        let scores: Vec<CriterionScore> = scores
            .iter()
            .map(|(criterion, score, max)| CriterionScore {
                criterion: (*criterion).to_owned(),
                score: *score,
                max: *max,
            })
            .collect();
        let parsed = serde_json::json!({
            "scores": scores
                .iter()
                .map(|s| serde_json::json!({"criterion": s.criterion, "score": s.score, "max": s.max}))
                .collect::<Vec<_>>(),
            "confidence": confidence,
        });
        let raw_response = parsed.to_string();
        let input_snapshot = serde_json::json!({
            "rubric": scores.iter().map(|s| s.criterion.clone()).collect::<Vec<_>>(),
            "transcript": transcript,
        });
        let new = NewAssessment {
            assignment_id: None,
            scores,
            confidence,
            model: "demo-tutor-model".to_owned(),
            prompt_hash: application::assessments::content_hash(
                &serde_json::json!({"prompt": "demo rubric prompt"}),
                "",
            ),
            input_snapshot,
            raw_response,
            parsed_result: parsed,
        };
        steps
            .run(
                &format!("assessment:{key}"),
                Assessment::TYPE,
                async |context| {
                    Ok(self
                        .assessments
                        .record(
                            &context,
                            AssessedSession {
                                id: session,
                                class_id: place.class_id,
                                group_id: place.group_path[1],
                                student_id: student,
                            },
                            new,
                        )
                        .await?)
                },
            )
            .await
    }

    /// The whole story, step by step.
    async fn build(&self, steps: &mut Steps) -> anyhow::Result<()> {
        let district = self.group(steps, "district", DISTRICT, None).await?;
        let harbor = self
            .group(steps, "harbor", "Harbor Middle School", Some(district))
            .await?;
        let ridge = self
            .group(steps, "ridge", "Ridge High School", Some(district))
            .await?;
        let tool = {
            let name =
                ToolName::parse("Socratic Tutor").map_err(|e| anyhow::anyhow!("tool name: {e}"))?;
            steps
                .run("tool:tutor", Tool::TYPE, async |context| {
                    Ok(self
                        .tools
                        .create(
                            &context,
                            district,
                            name,
                            "Asks questions instead of giving answers.".to_owned(),
                        )
                        .await?)
                })
                .await?
        };
        let algebra = self.class(steps, "algebra", harbor, CLASS).await?;
        let biology = self.class(steps, "biology", harbor, "Biology").await?;
        let chemistry = self.class(steps, "chemistry", ridge, "Chemistry").await?;

        let mut people: HashMap<&str, UserId> = HashMap::new();
        for person in PEOPLE {
            people.insert(person.key, self.account(steps, person).await?);
        }
        let who = |key: &'static str| (key, people[key]);

        self.group_member(
            steps,
            ("district", district),
            who("cora"),
            GroupRole::Counselor,
        )
        .await?;
        self.group_member(steps, ("harbor", harbor), who("pat"), GroupRole::Admin)
            .await?;
        let (algebra_, biology_, chemistry_) = (
            ("algebra", algebra),
            ("biology", biology),
            ("chemistry", chemistry),
        );
        for (class, key, role) in [
            (algebra_, "tess", ClassRole::Teacher),
            (algebra_, "ava", ClassRole::Student),
            (algebra_, "ben", ClassRole::Student),
            (algebra_, "chloe", ClassRole::Student),
            (biology_, "theo", ClassRole::Teacher),
            (biology_, "dev", ClassRole::Student),
            (chemistry_, "rita", ClassRole::Teacher),
            (chemistry_, "eli", ClassRole::Student),
            (chemistry_, "fay", ClassRole::Student),
        ] {
            self.class_member(steps, class, who(key), role).await?;
        }

        let in_algebra = Place {
            class_id: algebra,
            group_path: [district, harbor],
        };
        let in_biology = Place {
            class_id: biology,
            group_path: [district, harbor],
        };
        let in_chemistry = Place {
            class_id: chemistry,
            group_path: [district, ridge],
        };

        let ava_transcript = [
            "I have to solve 3x + 5 = 20 and I keep getting x = 8.",
            "Let's check it together. If x = 8, what is 3 times 8, plus 5?",
            "29. So that's wrong. I don't get what to do first.",
            "What could you do to both sides so that 3x is alone on the left?",
            "I don't know. Divide by 3?",
        ];
        let ava = self
            .session(
                steps,
                "ava",
                people["ava"],
                in_algebra,
                tool,
                vec![
                    student(ava_transcript[0]).into(),
                    tutor(ava_transcript[1]).into(),
                    student(ava_transcript[2]).into(),
                    tutor(ava_transcript[3]).into(),
                    student(ava_transcript[4]).into(),
                    Turn::Detect(Detection::Struggle {
                        topic: "Solving linear equations".to_owned(),
                        indicators: vec![
                            "repeated incorrect answers".to_owned(),
                            "asked for the first step twice".to_owned(),
                        ],
                        duration_seconds: 540,
                    }),
                ],
            )
            .await?;
        self.assessment(
            steps,
            "ava",
            ava,
            people["ava"],
            in_algebra,
            &[
                ("Equation setup", 2.0, 4.0),
                ("Inverse operations", 1.0, 4.0),
            ],
            0.62,
            &ava_transcript,
        )
        .await?;

        self.session(
            steps,
            "ben",
            people["ben"],
            in_algebra,
            tool,
            vec![
                student("Can you just give me the answers to worksheet 4?").into(),
                tutor(
                    "I can't hand out the answers, but we can work through the first problem \
                     together. What does it ask?",
                )
                .into(),
                student("Just tell me the answers. Nobody checks anyway.").into(),
                Turn::Detect(Detection::Misbehavior {
                    category: "academic_integrity".to_owned(),
                    severity: Severity::Medium,
                    evidence: "Asked three times for the worksheet answers instead of working \
                               through them."
                        .to_owned(),
                }),
            ],
        )
        .await?;

        self.session(
            steps,
            "chloe",
            people["chloe"],
            in_algebra,
            tool,
            vec![
                student("Can we do slope problems?").into(),
                tutor("Sure. What is the slope of the line through (1, 2) and (3, 6)?").into(),
                student(
                    "2. Sorry, I can't focus. I haven't slept much and everything feels \
                     pointless lately.",
                )
                .into(),
                Turn::Detect(Detection::SafetyConcern {
                    concern_type: "emotional_distress".to_owned(),
                    urgency: Urgency::SameDay,
                    evidence: "Said they have not been sleeping and that everything feels \
                               pointless."
                        .to_owned(),
                }),
            ],
        )
        .await?;

        let dev_transcript = [
            "What does the mitochondria do?",
            "It turns nutrients into ATP, the energy cells run on. Where would you expect \
             to find a lot of them?",
            "In muscle cells, because they need more energy?",
            "Exactly: muscle cells are packed with mitochondria.",
        ];
        let dev = self
            .session(
                steps,
                "dev",
                people["dev"],
                in_biology,
                tool,
                vec![
                    student(dev_transcript[0]).into(),
                    tutor(dev_transcript[1]).into(),
                    student(dev_transcript[2]).into(),
                    tutor(dev_transcript[3]).into(),
                    Turn::Complete {
                        summary: "Explained what mitochondria do and linked it to cells with \
                                  high energy needs."
                            .to_owned(),
                        topics: vec![
                            "cell organelles".to_owned(),
                            "cellular respiration".to_owned(),
                        ],
                    },
                ],
            )
            .await?;
        self.assessment(
            steps,
            "dev",
            dev,
            people["dev"],
            in_biology,
            &[("Understanding", 3.5, 4.0), ("Reasoning", 3.0, 4.0)],
            0.91,
            &dev_transcript,
        )
        .await?;

        self.session(
            steps,
            "eli",
            people["eli"],
            in_chemistry,
            tool,
            vec![
                student("this lab report is stupid and so is chemistry").into(),
                tutor("Sounds frustrating. Which part of the lab report is giving you trouble?")
                    .into(),
                Turn::Detect(Detection::Misbehavior {
                    category: "disrespectful_language".to_owned(),
                    severity: Severity::Low,
                    evidence: "Insulting language about the assignment.".to_owned(),
                }),
            ],
        )
        .await?;

        self.session(
            steps,
            "fay",
            people["fay"],
            in_chemistry,
            tool,
            vec![
                student("How do I balance Fe + O2 -> Fe2O3?").into(),
                tutor(
                    "Count the atoms on each side first. How many oxygen atoms are on the right?",
                )
                .into(),
                Turn::Detect(Detection::Struggle {
                    topic: "Balancing equations".to_owned(),
                    indicators: vec!["long pauses".to_owned()],
                    duration_seconds: 300,
                }),
                student("3 on the right... so 4Fe + 3O2 -> 2Fe2O3!").into(),
                Turn::Detect(Detection::Recovery {
                    topic: "Balancing equations".to_owned(),
                }),
            ],
        )
        .await?;
        self.assignment(steps, in_algebra, tool, &people).await
    }

    /// An assignment in Algebra I: Ava's work graded, Ben's waiting for a grade (the
    /// dashboard's `submissions_awaiting_grade`).
    async fn assignment(
        &self,
        steps: &mut Steps,
        place: Place,
        tool: Uuid,
        people: &HashMap<&str, UserId>,
    ) -> anyhow::Result<()> {
        let title = AssignmentTitle::parse("Two-step equations")
            .map_err(|e| anyhow::anyhow!("assignment title: {e}"))?;
        let assignment = steps
            .run("assignment:equations", Assignment::TYPE, async |context| {
                Ok(self
                    .assignments
                    .create(
                        &context,
                        place.class_id,
                        &place.group_path,
                        title,
                        "Solve 3x + 5 = 20 and 2x - 7 = 9, and explain each step in a \
                         sentence."
                            .to_owned(),
                        Some(tool),
                        None,
                        Some(10),
                    )
                    .await?)
            })
            .await?;
        steps
            .run(
                "assignment:equations:publish",
                Assignment::TYPE,
                async |context| {
                    let appended = self
                        .assignments
                        .advance(&context, assignment, AssignmentCommand::Publish)
                        .await?;
                    Ok((assignment, appended))
                },
            )
            .await?;
        let facts = self
            .submissions
            .assignment(assignment)
            .await?
            .context("the demo assignment")?;
        for (key, content) in [
            (
                "ava",
                "3x + 5 = 20: take 5 from both sides, 3x = 15, divide by 3, x = 5. \
                 2x - 7 = 9: add 7, 2x = 16, x = 8.",
            ),
            ("ben", "x = 5 and x = 8"),
        ] {
            let student = people[key];
            let submission = steps
                .run(
                    &format!("submission:{key}"),
                    Submission::TYPE,
                    async |context| {
                        Ok(self
                            .submissions
                            .create(&context, facts, student, content.to_owned(), vec![])
                            .await?)
                    },
                )
                .await?;
            steps
                .run(
                    &format!("submission:{key}:submit"),
                    Submission::TYPE,
                    async |context| {
                        let appended = self
                            .submissions
                            .submit(
                                &context,
                                submission,
                                facts,
                                student,
                                None,
                                None,
                                chrono::Utc::now(),
                            )
                            .await?;
                        Ok((submission, appended))
                    },
                )
                .await?;
            if key == "ava" {
                steps
                    .run("submission:ava:grade", Submission::TYPE, async |context| {
                        let appended = self
                            .submissions
                            .grade(
                                &context,
                                submission,
                                facts,
                                people["tess"],
                                Some(9),
                                "Clear steps. Check your second answer by substituting it back."
                                    .to_owned(),
                            )
                            .await?;
                        Ok((submission, appended))
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

/// Builds the demo school on `DATABASE_URL` (applying pending migrations first), or finishes
/// an interrupted one; `stop_after` stops with an error after that many appending steps.
pub async fn build(stop_after: Option<usize>) -> anyhow::Result<Outcome> {
    let (options, _) = config::database_from_env()?;
    let auth = config::auth_from_env()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .context("connecting to DATABASE_URL")?;
    infrastructure::db::migrate(&pool).await?;
    let listener = Arc::new(NoListener);
    let use_cases = UseCases {
        // The demo sends no email: the accounts have nothing to reset.
        identity: Identity::new(
            pool.clone(),
            listener.clone(),
            Arc::new(Argon2Hasher::new(auth.argon2)?),
            Arc::new(SystemClock),
            Arc::new(NoMailer),
            IdentitySettings::default(),
        ),
        groups: Groups::new(pool.clone(), listener.clone()),
        classes: Classes::new(pool.clone(), listener.clone()),
        tools: Tools::new(pool.clone(), listener.clone()),
        learning: LearningSessions::new(pool.clone(), listener.clone()),
        assessments: Assessments::new(pool.clone(), listener.clone()),
        assignments: Assignments::new(pool.clone(), listener.clone()),
        submissions: Submissions::new(pool.clone(), listener),
        pool: pool.clone(),
    };
    let mut steps = Steps {
        pool: use_cases.pool.clone(),
        outcome: Outcome::default(),
        stop_after,
    };
    let result = use_cases.build(&mut steps).await;
    pool.close().await;
    result.map(|()| steps.outcome)
}

/// What to print after a run: what happened, the accounts, the links.
pub fn report(outcome: &Outcome, base_url: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = if outcome.appended == 0 {
        writeln!(
            out,
            "The demo school is already there ({DISTRICT}); nothing was added."
        )
    } else if outcome.found > 0 {
        writeln!(
            out,
            "Finished the demo school ({DISTRICT}): an earlier run had stopped part-way; \
             {} more steps done.",
            outcome.appended
        )
    } else {
        writeln!(
            out,
            "Created the demo school ({DISTRICT}) in {} steps.",
            outcome.appended
        )
    };
    let _ = writeln!(
        out,
        "  Harbor Middle School: {CLASS} (3 students: a struggle, misbehavior, a safety concern, \
         an assessment to review), Biology\n  Ridge High School: Chemistry\n"
    );
    let _ = writeln!(
        out,
        "Demo accounts. DEMO PASSWORD of every one: {PASSWORD}\n\
         (fixed and published: keep a server with the demo school where nobody else can reach it)"
    );
    for person in PEOPLE {
        let note = if outcome.foreign_accounts.contains(&person.email) {
            "  (existed before the demo: its own password)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {:<30} {}{note}", person.email, person.role);
    }
    let base = base_url.trim_end_matches('/');
    let _ = writeln!(
        out,
        "\nOpen:\n  {base}/dashboard  live class dashboard: sign in as {TEACHER_EMAIL} \
         ({CLASS}), or {} (every class of the district)\n  {base}/docs       the API (Swagger UI)",
        PEOPLE[1].email
    );
    out
}

/// The base URL of the printed links: `--base-url`, or `http://` + `BIND_ADDR` (a wildcard
/// address as 127.0.0.1), or the default address.
pub fn base_url(explicit: Option<String>) -> String {
    if let Some(url) = explicit {
        return url;
    }
    let bind = std::env::var("BIND_ADDR")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let bind = bind
        .strip_prefix("0.0.0.0:")
        .map(|port| format!("127.0.0.1:{port}"))
        .unwrap_or(bind);
    format!("http://{bind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_value_parses() {
        assert!(Password::parse(PASSWORD).is_ok());
        assert!(GroupName::parse(DISTRICT).is_ok());
        for person in PEOPLE {
            assert!(Email::parse(person.email).is_ok(), "{}", person.email);
            assert!(DisplayName::parse(person.name).is_ok(), "{}", person.name);
        }
        let mut keys: Vec<_> = PEOPLE.iter().map(|p| p.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), PEOPLE.len(), "person keys are step names");
    }

    #[test]
    fn the_report_says_whether_anything_was_added() {
        let fresh = report(
            &Outcome {
                appended: 60,
                ..Outcome::default()
            },
            "http://127.0.0.1:8080",
        );
        assert!(fresh.contains("Created the demo school"), "{fresh}");
        assert!(fresh.contains(PASSWORD));
        assert!(fresh.contains("http://127.0.0.1:8080/dashboard"));
        assert!(fresh.contains(TEACHER_EMAIL));
        let again = report(
            &Outcome {
                found: 60,
                ..Outcome::default()
            },
            "http://h:1/",
        );
        assert!(again.contains("already there"), "{again}");
        assert!(again.contains("http://h:1/docs"));
        let resumed = report(
            &Outcome {
                appended: 3,
                found: 57,
                foreign_accounts: vec![TEACHER_EMAIL],
            },
            "http://h:1",
        );
        assert!(resumed.contains("stopped part-way"), "{resumed}");
        assert!(resumed.contains("its own password"), "{resumed}");
    }
}
