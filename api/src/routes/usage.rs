//! `GET /groups/{id}/usage`: what a group's subtree did, per day and tool, as JSON or CSV.
//!
//! Rolled up over the subtree as the directory has it now (a class that moved counts, with
//! its whole history, where it is now: see `projections::usage`). Days are UTC dates.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{Datelike as _, Days, NaiveDate, Utc};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, ResponseContent};
use projections::usage::{self as read, Counters, UsageReport, MAX_RANGE_DAYS};
use uuid::Uuid;

use super::tags::ApiTags;
use super::views;
use crate::caller::Caller;
use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

/// How many days a report covers when `from` is not given: `to` and the 29 days before it.
pub const DEFAULT_RANGE_DAYS: u64 = 30;

/// Detections recorded in learning sessions, by type.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UsageDetections")]
pub struct DetectionCountsDto {
    pub struggle: i64,
    pub misbehavior: i64,
    pub safety_concern: i64,
    pub recovery: i64,
}

/// What happened: the counters of a day and tool, or of the whole range.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UsageCounts")]
pub struct UsageCountsDto {
    pub sessions_started: i64,
    pub sessions_completed: i64,
    /// Messages posted in learning sessions, by students and by the tutoring service.
    pub messages: i64,
    pub detections: DetectionCountsDto,
    /// Submissions of assignments, once per day, assignment and student.
    pub assignments_submitted: i64,
    /// Distinct students who started a learning session, posted a message in one, completed
    /// one or submitted an assignment: that day (in a row) or on any day of the range (in
    /// `totals`), each student once however many classes, tools and days.
    pub active_students: i64,
}

impl UsageCountsDto {
    fn new(c: &Counters, active_students: i64) -> Self {
        Self {
            sessions_started: c.sessions_started,
            sessions_completed: c.sessions_completed,
            messages: c.messages,
            detections: DetectionCountsDto {
                struggle: c.struggles,
                misbehavior: c.misbehaviors,
                safety_concern: c.safety_concerns,
                recovery: c.recoveries,
            },
            assignments_submitted: c.assignments_submitted,
            active_students,
        }
    }
}

/// One day and tool of a group's usage.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UsageRow")]
pub struct UsageRowDto {
    /// A UTC date.
    pub day: NaiveDate,
    /// The tool; null for what no tool did (assignments submitted).
    #[oai(nullable)]
    pub tool_id: Option<Uuid>,
    #[oai(flatten)]
    pub counts: UsageCountsDto,
}

/// A group's usage over a range of days, rolled up over its subtree.
#[derive(Debug, Clone, Object)]
#[oai(rename = "GroupUsage", example)]
pub struct UsageDto {
    pub group_id: Uuid,
    /// The first day of the range (UTC).
    pub from: NaiveDate,
    /// The last day of the range (UTC), included.
    pub to: NaiveDate,
    /// The tool the report is limited to; null for every tool and assignments.
    #[oai(nullable)]
    pub tool_id: Option<Uuid>,
    /// The days and tools with any activity, by day, then tool (assignments last); days
    /// without activity are left out.
    pub rows: Vec<UsageRowDto>,
    /// The whole range: the sums of the rows, and the distinct students active on any of
    /// its days.
    pub totals: UsageCountsDto,
}

impl poem_openapi::types::Example for UsageDto {
    fn example() -> Self {
        let tool = Uuid::from_u128(0x0193b2a4_7000_7000_8000_000000000042);
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default();
        let counters = Counters {
            sessions_started: 12,
            sessions_completed: 9,
            messages: 140,
            struggles: 3,
            misbehaviors: 1,
            safety_concerns: 0,
            recoveries: 2,
            assignments_submitted: 0,
        };
        let submitted = Counters {
            assignments_submitted: 7,
            ..Counters::default()
        };
        let mut totals = counters;
        totals.assignments_submitted = 7;
        Self {
            group_id: Uuid::from_u128(0x0193b2a4_5c1d_7e2f_8a3b_4c5d6e7f8a9b),
            from: day,
            to: day,
            tool_id: None,
            rows: vec![
                UsageRowDto {
                    day,
                    tool_id: Some(tool),
                    counts: UsageCountsDto::new(&counters, 11),
                },
                UsageRowDto {
                    day,
                    tool_id: None,
                    counts: UsageCountsDto::new(&submitted, 7),
                },
            ],
            totals: UsageCountsDto::new(&totals, 14),
        }
    }
}

/// The report in the representation the client asked for.
#[derive(ResponseContent)]
pub enum UsageBody {
    Json(Json<UsageDto>),
    /// One line per day and tool under a header line, then a line whose `day` is `total`;
    /// the detections are the columns `struggles`, `misbehaviors`, `safety_concerns` and
    /// `recoveries`; an empty `tool_id` is what no tool did.
    #[oai(content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

#[derive(ApiResponse)]
pub enum UsageResponse {
    /// The usage, as JSON, or as CSV when the request's `Accept` prefers `text/csv`.
    #[oai(status = 200)]
    Ok(UsageBody, #[oai(header = "Vary")] String),
}

/// The columns of the CSV form.
pub const CSV_HEADER: &str = "day,tool_id,sessions_started,sessions_completed,messages,\
    struggles,misbehaviors,safety_concerns,recoveries,assignments_submitted,active_students";

fn csv_line(out: &mut String, day: &str, tool: Option<Uuid>, c: &UsageCountsDto) {
    let tool = tool.map(|t| t.to_string()).unwrap_or_default();
    let d = &c.detections;
    let _ = writeln!(
        out,
        "{day},{tool},{},{},{},{},{},{},{},{},{}",
        c.sessions_started,
        c.sessions_completed,
        c.messages,
        d.struggle,
        d.misbehavior,
        d.safety_concern,
        d.recovery,
        c.assignments_submitted,
        c.active_students
    );
}

fn csv(usage: &UsageDto) -> String {
    let mut out = String::with_capacity(64 * (usage.rows.len() + 2));
    out.push_str(CSV_HEADER);
    out.push('\n');
    for row in &usage.rows {
        csv_line(&mut out, &row.day.to_string(), row.tool_id, &row.counts);
    }
    csv_line(&mut out, "total", usage.tool_id, &usage.totals);
    out
}

/// Whether `Accept` prefers CSV to JSON: `text/csv` (or `text/*`) with a higher quality than
/// `application/json` (or `application/*`, `*/*`), or as high and named while JSON is not.
fn wants_csv(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    // The quality of the most specific range matching each: (specificity, q).
    let mut csv: (u8, f32) = (0, 0.0);
    let mut json: (u8, f32) = (0, 0.0);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let (for_csv, for_json) = match media.as_str() {
            "text/csv" => (3, 0),
            "text/*" => (2, 0),
            "application/json" => (0, 3),
            "application/*" => (0, 2),
            "*/*" => (1, 1),
            _ => (0, 0),
        };
        if for_csv > csv.0 {
            csv = (for_csv, q);
        }
        if for_json > json.0 {
            json = (for_json, q);
        }
    }
    csv.1 > json.1 || (csv.1 > 0.0 && csv.1 == json.1 && csv.0 == 3 && json.0 < 3)
}

/// The range asked for: `to` defaults to today (UTC), `from` to the 29 days before `to`.
fn range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    for (name, day) in [("from", from), ("to", to)] {
        if day.is_some_and(|d| !(1..=9999).contains(&d.year())) {
            return Err(ApiError::new(
                ProblemKind::InvalidParameter,
                format!("{name}: not a date from 0001-01-01 to 9999-12-31"),
            ));
        }
    }
    let to = to.unwrap_or(today);
    let from = match from {
        Some(from) => from,
        None => to
            .checked_sub_days(Days::new(DEFAULT_RANGE_DAYS - 1))
            .unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::new(
            ProblemKind::InvalidDateRange,
            format!("from ({from}) is after to ({to})"),
        ));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_RANGE_DAYS {
        return Err(ApiError::new(
            ProblemKind::InvalidDateRange,
            format!("{days} days from {from} to {to}: at most {MAX_RANGE_DAYS}"),
        ));
    }
    Ok((from, to))
}

fn dto(
    group_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    tool: Option<Uuid>,
    r: UsageReport,
) -> UsageDto {
    UsageDto {
        group_id,
        from,
        to,
        tool_id: tool,
        rows: r
            .rows
            .iter()
            .map(|row| UsageRowDto {
                day: row.day,
                tool_id: row.tool_id,
                counts: UsageCountsDto::new(&row.counters, row.active_students),
            })
            .collect(),
        totals: UsageCountsDto::new(&r.totals, r.active_students),
    }
}

pub struct UsageApi {
    pub services: Arc<Services>,
}

#[OpenApi(tag = "ApiTags::Groups")]
impl UsageApi {
    /// A group's usage
    ///
    /// For the admins of the group or of a group above it (and system admins): per day (UTC)
    /// and tool, the learning sessions started and completed, the messages, the detections by
    /// type, the assignments submitted and the distinct active students, over the group's
    /// subtree as it is now (a class that moved counts, with its whole history, under its
    /// current group), with totals for the range. `from` and `to` are UTC dates, both
    /// included: by default the 30 days up to today (UTC); at most 366 days. A `from` after
    /// `to` or a longer range is `422 invalid-date-range`; a date that does not parse,
    /// `400 invalid-parameter`. As CSV when `Accept` prefers `text/csv`.
    #[oai(
        path = "/groups/:id/usage",
        method = "get",
        operation_id = "groupUsage"
    )]
    async fn usage(
        &self,
        caller: Data<&Caller>,
        request: &Request,
        id: Path<Uuid>,
        /// The first day (UTC, `YYYY-MM-DD`); by default 29 days before `to`.
        from: Query<Option<NaiveDate>>,
        /// The last day (UTC, `YYYY-MM-DD`), included; by default today.
        to: Query<Option<NaiveDate>>,
        /// Only this tool's sessions (assignments, which no tool submits, are left out).
        tool_id: Query<Option<Uuid>>,
    ) -> Result<UsageResponse, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.read_usage")
            .await?;
        let (from, to) = range(from.0, to.0, Utc::now().date_naive())?;
        let mut snapshot = views::snapshot(&self.services.pool).await?;
        let report = read::report(&mut snapshot, id.0, from, to, tool_id.0).await?;
        snapshot.commit().await?;
        let usage = dto(id.0, from, to, tool_id.0, report);
        let accept = request
            .headers()
            .get(poem::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let body = if wants_csv(accept) {
            UsageBody::Csv(PlainText(csv(&usage)))
        } else {
            UsageBody::Json(Json(usage))
        };
        Ok(UsageResponse::Ok(body, "Accept".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_csv_only_when_preferred() {
        assert!(!wants_csv(None));
        assert!(!wants_csv(Some("*/*")));
        assert!(!wants_csv(Some("application/json")));
        assert!(wants_csv(Some("text/csv")));
        assert!(wants_csv(Some("text/csv, */*;q=0.8")));
        assert!(wants_csv(Some("application/json;q=0.5, text/csv")));
        assert!(!wants_csv(Some("application/json, text/csv;q=0.9")));
        assert!(!wants_csv(Some("text/csv;q=0")));
    }

    #[test]
    fn the_range_defaults_to_30_days_up_to_today_and_has_limits() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let today = day("2026-12-07");
        assert_eq!(
            range(None, None, today).unwrap(),
            (day("2026-11-08"), today)
        );
        assert_eq!(
            range(Some(day("2025-12-07")), Some(day("2026-12-07")), today).unwrap(),
            (day("2025-12-07"), today)
        );
        let status = |r: Result<_, ApiError>| r.unwrap_err().status();
        assert_eq!(status(range(Some(day("2025-12-06")), None, today)), 422);
        assert_eq!(status(range(Some(day("2026-12-08")), None, today)), 422);
        assert_eq!(status(range(Some(day("0000-12-31")), None, today)), 400);
    }
}
