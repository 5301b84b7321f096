//! Email templates (minijinja), one subject, text and HTML template per notification kind,
//! in `infrastructure/templates/email/` and compiled into the binary.

use std::collections::BTreeMap;

use domain::notification::NotificationKind;
use minijinja::Environment;
use serde::Serialize;

/// `(name, source)` of every template file.
const FILES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/email/base.html")),
    (
        "footer.txt",
        include_str!("../../templates/email/footer.txt"),
    ),
    (
        "misbehavior.subject.txt",
        include_str!("../../templates/email/misbehavior.subject.txt"),
    ),
    (
        "misbehavior.txt",
        include_str!("../../templates/email/misbehavior.txt"),
    ),
    (
        "misbehavior.html",
        include_str!("../../templates/email/misbehavior.html"),
    ),
    (
        "struggle.subject.txt",
        include_str!("../../templates/email/struggle.subject.txt"),
    ),
    (
        "struggle.txt",
        include_str!("../../templates/email/struggle.txt"),
    ),
    (
        "struggle.html",
        include_str!("../../templates/email/struggle.html"),
    ),
    (
        "safety_concern.subject.txt",
        include_str!("../../templates/email/safety_concern.subject.txt"),
    ),
    (
        "safety_concern.txt",
        include_str!("../../templates/email/safety_concern.txt"),
    ),
    (
        "safety_concern.html",
        include_str!("../../templates/email/safety_concern.html"),
    ),
    (
        "assessment_review.subject.txt",
        include_str!("../../templates/email/assessment_review.subject.txt"),
    ),
    (
        "assessment_review.txt",
        include_str!("../../templates/email/assessment_review.txt"),
    ),
    (
        "assessment_review.html",
        include_str!("../../templates/email/assessment_review.html"),
    ),
];

/// What a notification email is rendered from.
#[derive(Debug, Clone, Serialize)]
pub struct EmailContext {
    pub recipient_name: String,
    pub title: String,
    pub body: String,
    pub class_name: String,
    pub student_name: String,
    pub link: String,
    pub details: BTreeMap<String, String>,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct EmailTemplates {
    env: Environment<'static>,
}

impl EmailTemplates {
    /// Loads and parses every template (a syntax error fails start-up).
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, source) in FILES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("email template {name}: {e}"))?;
        }
        Ok(Self { env })
    }

    pub fn render(
        &self,
        kind: NotificationKind,
        context: &EmailContext,
    ) -> anyhow::Result<Rendered> {
        let render = |suffix: &str| -> anyhow::Result<String> {
            let name = format!("{}.{suffix}", kind.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(context))
                .map_err(|e| anyhow::anyhow!("rendering {name}: {e}"))
        };
        // One line, whatever the data holds.
        let subject = render("subject.txt")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> EmailContext {
        EmailContext {
            recipient_name: "Tess Teacher".into(),
            title: "Misbehavior (high) in Algebra <1>".into(),
            body: "b".into(),
            class_name: "Algebra <1>".into(),
            student_name: "Sam".into(),
            link: "http://app/learning-sessions/1".into(),
            details: BTreeMap::from([
                ("severity".into(), "high".into()),
                ("category".into(), "off_topic".into()),
                ("evidence".into(), "<script>".into()),
                ("topic".into(), "fractions".into()),
                ("minutes".into(), "5".into()),
                ("indicators".into(), "x".into()),
                ("urgency".into(), "immediate".into()),
                ("concern_type".into(), "self_harm".into()),
                ("confidence".into(), "0.50".into()),
            ]),
        }
    }

    #[test]
    fn every_kind_renders_and_html_is_escaped() {
        let templates = EmailTemplates::load().unwrap();
        for kind in NotificationKind::ALL {
            let email = templates.render(kind, &context()).unwrap();
            assert!(email.subject.starts_with("[Raptscallions] "), "{kind:?}");
            assert!(!email.subject.contains('\n'));
            assert!(email.text.contains("http://app/learning-sessions/1"));
            assert!(email.html.contains("Algebra &lt;1&gt;"), "{}", email.html);
        }
        let email = templates
            .render(NotificationKind::Misbehavior, &context())
            .unwrap();
        assert!(email.text.contains("Evidence: <script>"));
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(!email.html.contains("<script>"));
    }
}
