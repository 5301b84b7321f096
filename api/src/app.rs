//! The composition root: everything the service is made of, wired once. [`Application`]
//! migrates, starts the subscribers and the background loops ([`crate::workers`]), builds
//! the shared [`Services`], mounts the OpenAPI document ([`crate::openapi`]) and the routes
//! behind the [`middleware`], binds the listener, and stops it all gracefully.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use application::assessments::Assessments;
use application::classes::Classes;
use application::external::ExternalSignIn;
use application::groups::Groups;
use application::identity::{Identity, IdentitySettings, MailRetry};
use application::learning::LearningSessions;
use application::notifications::Notifications;
use application::ports::{Clock, Mailer, SystemClock};
use application::service_accounts::ServiceAccounts;
use application::tools::Tools;
use application::workflows::{SafetyConcerns, WorkflowParts, Workflows};
use infrastructure::config::AuthConfig;
use infrastructure::mail::{NoMailer, SmtpMailer};
use infrastructure::nats::NatsRelay;
use infrastructure::passwords::Argon2Hasher;
use infrastructure::realtime::grants::{refresh_account, Grants, Revocations};
use infrastructure::realtime::publisher::{self, PublisherSettings};
use infrastructure::workers::email::{EmailDelivery, Retry};
use infrastructure::workers::reactions::Reactions;
use infrastructure::workers::templates::EmailTemplates;
use infrastructure::workers::workflows::{
    run_timers, InterventionTemplate, ReadModelDirectory, TimerSettings, WorkflowSteps,
    FIRING_CONCURRENCY,
};
use infrastructure::{db, Config};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Route, Server};
use projections::metrics::Metrics;
use projections::runner::{RunnerSettings, Subscriber};
use projections::{Checkpoints, LogSignal, Subscribers};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::authz::{Authz, Policy};
use crate::connections::{self, Connections, LimitedAcceptor};
use crate::dashboard_page;
use crate::middleware;
use crate::openapi::{document, openapi};
use crate::problem;
use crate::rate_limit::AuthLimits;
use crate::state::{RealtimeCredentials, Services};

/// How often the NATS account JWT is sent again (expired credentials leave its revocations;
/// a server that lost its account directory learns them again), after the credentials that
/// expired over a minute ago are deleted.
const ACCOUNT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
use crate::workers::{cache_invalidation, expired_sessions};

/// Replaceable parts of the service (tests inject a clock).
#[derive(Clone)]
pub struct Overrides {
    pub clock: Arc<dyn Clock>,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

/// The mailer of `SMTP_URL` (or one that fails every send when it is not set).
pub fn mailer(auth: &AuthConfig) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match &auth.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url, &auth.smtp_from)?),
        None => {
            tracing::warn!("SMTP_URL is not set: emails will not be sent (they dead-letter)");
            Arc::new(NoMailer)
        }
    })
}

/// The identity use cases as configured (also used by `create-admin`).
pub fn identity(
    auth: &AuthConfig,
    pool: PgPool,
    listener: Arc<dyn application::ports::AppendListener>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Identity> {
    let mailer = mailer(auth)?;
    let settings = IdentitySettings {
        reset_token_ttl: chrono::Duration::minutes(auth.reset_token_ttl_minutes),
        mail_retry: MailRetry {
            attempts: auth.mail_retry_attempts,
            first_delay: auth.mail_retry_delay,
        },
        frontend_url: auth.frontend_url.clone(),
        ..IdentitySettings::default()
    };
    Ok(Identity::new(
        pool,
        listener,
        Arc::new(Argon2Hasher::new(auth.argon2)?),
        clock,
        mailer,
        settings,
    ))
}

/// A built, running service.
pub struct Application {
    port: u16,
    services: Arc<Services>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// Applies migrations, retrying for a while so that a database that is still starting does
/// not fail the service.
async fn migrate_with_retry(pool: &PgPool) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match db::migrate(pool).await {
            Ok(()) => return Ok(()),
            Err(error) if attempt < 20 => {
                attempt += 1;
                tracing::warn!(
                    error = format!("{error:#}"),
                    attempt,
                    "migrations failed; retrying"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

impl Application {
    /// Migrates, starts the subscribers and the relay, and binds the HTTP listener
    /// (`BIND_ADDR`; port 0 picks a free port, see [`Application::port`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    /// [`Application::build`] with replaced parts.
    pub async fn build_with(config: Config, overrides: Overrides) -> anyhow::Result<Self> {
        // The policy is validated against its schema before anything else starts.
        let policy = Policy::shipped()?;
        let pool = db::pool(&config);
        migrate_with_retry(&pool).await?;
        let nats = infrastructure::nats::connect(
            &config.nats_url,
            config.realtime_credentials.keys.as_ref(),
        )
        .await?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let metrics = Arc::new(if config.metrics_enabled {
            Metrics::new()
        } else {
            Metrics::disabled()
        });
        let signal = LogSignal::default().with_metrics(metrics.clone());
        let subscribers = Subscribers::with_metrics(metrics.clone());
        let settings = RunnerSettings {
            poll_interval: config.subscriber_poll_interval,
            takeover_interval: config.subscriber_takeover_interval,
            ..RunnerSettings::default()
        };
        let mut workers = vec![tokio::spawn(
            signal.clone().run(pool.clone(), shutdown_rx.clone()),
        )];
        let relay = NatsRelay::new(
            nats.clone(),
            &config.nats_subject_prefix,
            &config.nats_events_stream,
            config.nats_duplicate_window,
        );
        let notifications = Arc::new(Notifications::new(pool.clone(), Arc::new(signal.clone())));
        let reactions = Reactions::new(
            pool.clone(),
            Checkpoints::new(pool.clone(), subscribers.clone()),
            notifications.clone(),
            config.reactions_fault_after,
        );
        let email = EmailDelivery {
            pool: pool.clone(),
            notifications: notifications.clone(),
            mailer: mailer(&config.auth)?,
            templates: EmailTemplates::load()?,
            retry: Retry {
                attempts: config.auth.mail_retry_attempts,
                first_delay: config.auth.mail_retry_delay,
            },
            frontend_url: config.auth.frontend_url.clone(),
            metrics: metrics.clone(),
        };
        let workflows = Arc::new(Workflows::new(WorkflowParts {
            pool: pool.clone(),
            listener: Arc::new(signal.clone()),
            learning: Arc::new(LearningSessions::new(
                pool.clone(),
                Arc::new(signal.clone()),
            )),
            notifications: notifications.clone(),
            directory: Arc::new(ReadModelDirectory {
                pool: pool.clone(),
                checkpoints: Checkpoints::new(pool.clone(), subscribers.clone()),
            }),
            message: Arc::new(InterventionTemplate::load()?),
            settings: config.workflows,
        }));
        // Live dashboards' credentials (ADR 0011): only with the NATS keys.
        let realtime = match &config.realtime_credentials.keys {
            Some(keys) => {
                let system = infrastructure::nats::connect_system(&config.nats_url, keys).await?;
                let grants = Grants::new(pool.clone(), keys.clone(), system);
                workers.push(tokio::spawn(refresh_account(
                    grants.clone(),
                    ACCOUNT_REFRESH_INTERVAL,
                    shutdown_rx.clone(),
                )));
                Some(grants)
            }
            None => None,
        };
        let sealer = projections::audit::sealer::Sealer {
            pool: infrastructure::db::read_model_writer_pool(&config, 1),
            key: config.audit.key.clone(),
            checkpoint_every: config.audit.checkpoint_every,
        };
        let all = projections::all_projections()
            .into_iter()
            .map(Subscriber::Projection)
            .chain([
                Subscriber::Sink(Arc::new(sealer)),
                Subscriber::Sink(Arc::new(relay)),
                Subscriber::Sink(Arc::new(reactions)),
                Subscriber::Sink(Arc::new(email)),
                Subscriber::Sink(Arc::new(WorkflowSteps {
                    workflows: workflows.clone(),
                })),
            ])
            .chain(realtime.iter().map(|grants| {
                Subscriber::Sink(Arc::new(Revocations {
                    grants: grants.clone(),
                }))
            }));
        for subscriber in all {
            workers.push(subscribers.spawn(
                subscriber,
                config.database.clone(),
                signal.clone(),
                settings,
                shutdown_rx.clone(),
            ));
        }
        // The timers fire on connections of their own (and the sagas' commands with them).
        let timer_pool = infrastructure::db::pool_of(&config, FIRING_CONCURRENCY as u32 + 2);
        workers.push(tokio::spawn(run_timers(
            Arc::new(workflows.with_pool(timer_pool.clone())),
            timer_pool,
            TimerSettings {
                database: config.database.clone(),
                takeover_interval: config.subscriber_takeover_interval,
                poll_interval: config.subscriber_poll_interval,
                metrics: metrics.clone(),
            },
            shutdown_rx.clone(),
        )));
        // Checkpoints by time, and their copies on NATS.
        workers.push(tokio::spawn(
            infrastructure::workers::audit::AuditLoop {
                pool: pool.clone(),
                nats: nats.clone(),
                key: config.audit.key.clone(),
                interval: config.audit.checkpoint_interval,
                subject: format!("{}.audit.checkpoints", config.nats_subject_prefix),
                stream: config.audit.stream.clone(),
            }
            .run(shutdown_rx.clone()),
        ));
        // Live updates go to NATS on their own path, not through the relay's batches.
        workers.push(tokio::spawn(publisher::run(
            nats.clone(),
            PublisherSettings {
                database: config.database.clone(),
                subject_prefix: config.nats_subject_prefix.clone(),
                retention: config.realtime_retention,
                poll_interval: config.subscriber_poll_interval,
                takeover_interval: config.subscriber_takeover_interval,
                metrics: metrics.clone(),
            },
            shutdown_rx.clone(),
        )));

        let identity = identity(
            &config.auth,
            pool.clone(),
            Arc::new(signal.clone()),
            overrides.clock.clone(),
        )?;
        let identity = Arc::new(identity);
        let mut providers: Vec<Arc<dyn application::ports::OidcProvider>> = Vec::new();
        for settings in &config.auth.oidc_providers {
            providers.push(Arc::new(infrastructure::oidc::Provider::new(
                settings.clone(),
            )?));
        }
        let external = ExternalSignIn::new(
            pool.clone(),
            Arc::new(signal.clone()),
            identity.clone(),
            providers,
        );
        let services = Arc::new(Services {
            external,
            groups: Groups::new(pool.clone(), Arc::new(signal.clone())),
            classes: Classes::new(pool.clone(), Arc::new(signal.clone())),
            tools: Tools::new(pool.clone(), Arc::new(signal.clone())),
            assignments: application::assignments::Assignments::new(
                pool.clone(),
                Arc::new(signal.clone()),
            ),
            submissions: application::assignments::Submissions::new(
                pool.clone(),
                Arc::new(signal.clone()),
            ),
            learning: LearningSessions::new(pool.clone(), Arc::new(signal.clone())),
            assessments: Assessments::new(pool.clone(), Arc::new(signal.clone())),
            notifications,
            service_accounts: ServiceAccounts::new(pool.clone(), Arc::new(signal.clone())),
            safety_concerns: SafetyConcerns::new(pool.clone(), Arc::new(signal.clone())),
            authz: Authz::new(
                policy,
                pool.clone(),
                Checkpoints::new(pool.clone(), subscribers.clone()),
                config.read_your_writes_timeout,
            ),
            identity,
            limits: AuthLimits::per_minute(config.auth.auth_rate_limit_per_minute),
            auth: config.auth.clone(),
            checkpoints: Checkpoints::new(pool.clone(), subscribers.clone()),
            subscribers,
            pool,
            nats,
            read_your_writes_timeout: config.read_your_writes_timeout,
            audit_key: config.audit.key.clone(),
            realtime: realtime.map(|grants| RealtimeCredentials {
                grants,
                websocket_url: config.realtime_credentials.websocket_url.clone(),
                ttl: config.realtime_credentials.ttl,
                subject_prefix: config.nats_subject_prefix.clone(),
            }),
            metrics: metrics.clone(),
        });

        workers.push(tokio::spawn(expired_sessions::run(
            services.clone(),
            config.auth.session_sweep_interval,
            shutdown_rx.clone(),
        )));
        workers.push(tokio::spawn(cache_invalidation::run(
            services.pool.clone(),
            services.identity.session_cache().clone(),
            services.clone(),
            shutdown_rx.clone(),
        )));

        let api = openapi(&services);
        let document = document(&api.spec(), middleware::session_cookie_name(&services.auth))?;
        let allowed = middleware::AllowedMethods::from_spec(&document);
        let routes = middleware::RouteTemplates::from_spec(&document);
        let limit = config.max_body_bytes;
        let body_read_timeout = config.http.body_read_timeout;
        let connections = Arc::new(Connections::default());
        let document = document.to_string();
        // The page may connect to this API and to the NATS websocket listener it is sent to.
        let websocket_url = services.realtime.as_ref().map(|r| r.websocket_url.as_str());
        let app = dashboard_page::mount(Route::new(), websocket_url)?
            .at(
                "/openapi.json",
                poem::endpoint::make_sync(move |_| {
                    poem::Response::builder()
                        .content_type("application/json; charset=utf-8")
                        .body(document.clone())
                }),
            )
            .at(
                "/metrics",
                poem::get(crate::metrics::endpoint(
                    services.clone(),
                    config.metrics_token.clone(),
                )),
            )
            .nest("/docs", api.swagger_ui())
            .nest("/", api)
            .around({
                let services = services.clone();
                move |ep, req| middleware::resolve_caller(ep, req, services.clone())
            })
            .around(move |ep, req| middleware::body_guard(ep, req, limit, body_read_timeout))
            .catch_all_error(problem::catch_all)
            .around(move |ep, req| middleware::allow_header(ep, req, allowed.clone()))
            .around(move |ep, req| {
                middleware::request_context(ep, req, (metrics.clone(), routes.clone()))
            })
            .around({
                let connections = connections.clone();
                move |ep, req| connections::track_requests(ep, req, connections.clone())
            });

        let acceptor = TcpListener::bind(config.bind_addr)
            .into_acceptor()
            .await
            .with_context(|| format!("binding {} (BIND_ADDR)", config.bind_addr))?;
        // Slow and idle clients are cut off, and open connections capped (`HTTP_*`).
        let acceptor = LimitedAcceptor::new(acceptor, config.http, connections);
        // The pool, a connection per subscriber, NATS and files: a rough reserve.
        connections::check_open_file_limit(
            &config.http,
            config.database_max_connections as usize + 64,
        );
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("the listener has no TCP address")?;
        let mut stop = shutdown_rx.clone();
        let server = tokio::spawn(async move {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = stop.wait_for(|s| *s).await;
                    },
                    Some(Duration::from_secs(10)),
                )
                .await
        });
        tracing::info!(port, "listening");
        Ok(Self {
            port,
            services,
            shutdown,
            server,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Stops accepting requests, lets running ones finish, stops every worker.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        for worker in self.workers {
            let _ = worker.await;
        }
        self.services.pool.close().await;
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        #[cfg(unix)]
        let terminate = term.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate => {}
        }
        tracing::info!("shutting down");
        self.stop().await;
        Ok(())
    }
}
