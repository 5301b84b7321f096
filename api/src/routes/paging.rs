//! Lists paged by log position, newest first: `limit` (1 to 200, default 50) and `cursor`
//! (the `next_cursor` of the previous page: the position of its last item).

use crate::problem::{ApiError, ProblemKind};

/// A page request: how many items, and the position to continue below.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub before: Option<i64>,
}

impl Page {
    /// Parses `limit` and `cursor`; 400 `invalid-parameter` for either out of shape.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::new(
                ProblemKind::InvalidParameter,
                "limit: between 1 and 200".to_owned(),
            ));
        }
        let before = cursor
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    ApiError::new(
                        ProblemKind::InvalidParameter,
                        "cursor: not a cursor".to_owned(),
                    )
                })
            })
            .transpose()?;
        Ok(Self { limit, before })
    }

    /// How many rows to read: one more than the page, to know whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts `rows` (read with [`Page::fetch`]) to the page; the cursor of the next page, if
    /// there is one, is the position of the page's last row.
    pub fn finish<T>(&self, rows: &mut Vec<T>, position: impl Fn(&T) -> i64) -> Option<String> {
        if rows.len() as i64 > self.limit {
            rows.truncate(self.limit as usize);
            rows.last().map(|r| position(r).to_string())
        } else {
            None
        }
    }
}
