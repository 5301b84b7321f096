//! Email over SMTP (lettre).

use application::ports::{anyhow_like, Mailer, OutgoingEmail};
use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Sends through the SMTP server of `SMTP_URL` (`smtp://host:port` plain, `smtp://…?tls=required`
/// STARTTLS, `smtps://…` TLS; credentials in the URL).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL is malformed: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("SMTP_FROM is malformed: {e}"))?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> anyhow_like::Result<()> {
        let to: Mailbox = email.to.parse()?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(email.message_id.clone());
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            ))?,
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(email.text.clone()),
            )?,
        };
        self.transport.send(message).await?;
        Ok(())
    }
}

/// The mailer when `SMTP_URL` is not set: every send fails (and is recorded as failed), so
/// that nothing pretends an email went out. Never logs the message (it may hold a secret).
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _email: &OutgoingEmail) -> anyhow_like::Result<()> {
        Err("SMTP_URL is not configured".into())
    }
}
