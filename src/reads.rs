//! Where `plan`, `apply` and `diff` read what Engati knows (Users API audiences, recipients'
//! conversation histories for reconciling): Engati through the client (the key read on first
//! use, so a project that reads nothing needs none), or the built-in emulator on loopback.

use crate::emulator;
use crate::engati::{ApiError, Client, ClientConfig, ReadError};
use crate::model::Api;
use crate::reconcile::History;
use crate::render::UsersSource;

/// Attempts per Users API read.
const READ_ATTEMPTS: u32 = 4;
/// The first pause between attempts; doubled for every further one.
const READ_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a failed read may pass when tried again: not a refusal of the key or the request.
fn rereadable(e: &ApiError) -> bool {
    !matches!(
        e,
        ApiError::KeyRejected { .. }
            | ApiError::NotFound { .. }
            | ApiError::BadRequest { .. }
            | ApiError::Rejected { .. }
            | ApiError::InvalidRequest { .. }
    )
}

/// Reads Users API audiences through the Engati client, created on first use (a project
/// without such audiences needs no key).
pub(crate) struct EngatiReads {
    api: Api,
    insecure_http: bool,
    key_override: Option<String>,
    runtime: Option<tokio::runtime::Runtime>,
    client: Option<Client>,
    emulator: Option<emulator::Running>,
}

impl EngatiReads {
    /// Users from `api`; the key is read from its variable on first use.
    pub(crate) fn new(api: &Api, insecure_http: bool) -> EngatiReads {
        EngatiReads {
            api: api.clone(),
            insecure_http,
            key_override: None,
            runtime: None,
            client: None,
            emulator: None,
        }
    }

    /// Starts the built-in emulator on loopback and reads users from it (no key needed);
    /// returns its base URL.
    pub(crate) fn use_builtin_emulator(&mut self) -> Result<String, ReadError> {
        let runtime = self.runtime()?;
        let running = runtime
            .block_on(emulator::start(emulator::Config::local(
                emulator::Seed::builtin(),
            )))
            .map_err(|e| {
                ReadError::Unavailable(format!("cannot start the built-in emulator: {e}"))
            })?;
        let base_url = running.base_url();
        self.api.base_url = base_url.clone();
        self.key_override = Some(emulator::BUILTIN_API_KEY.to_owned());
        self.emulator = Some(running);
        Ok(base_url)
    }

    /// Stops the built-in emulator, if one was started.
    pub(crate) fn shut_down(&mut self) {
        if let (Some(running), Some(runtime)) = (self.emulator.take(), self.runtime.as_ref()) {
            runtime.block_on(running.shutdown());
        }
    }

    fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, ReadError> {
        let runtime = match self.runtime.take() {
            Some(runtime) => runtime,
            None => crate::engati::runtime(Some(2)).map_err(|e| {
                ReadError::Unavailable(format!("cannot start the async runtime: {e}"))
            })?,
        };
        Ok(self.runtime.insert(runtime))
    }
}

impl EngatiReads {
    /// Whether reads can be made at all: the key's variable is set (or the built-in emulator
    /// answers). A plan without a key does not reconcile.
    pub(crate) fn has_key(&self) -> bool {
        self.key_override.is_some()
            || ClientConfig::from_settings(&self.api, |v| std::env::var(v).ok(), self.insecure_http)
                .is_ok()
    }

    /// Runs one read with the client (made on first use), trying again what may pass: a read
    /// changes nothing, and apply reads again to check its plan, so one lost answer should not
    /// refuse it.
    fn read<T>(
        &mut self,
        call: impl AsyncFn(&Client) -> Result<T, ApiError>,
    ) -> Result<T, ReadError> {
        if self.client.is_none() {
            let key = self.key_override.clone();
            let config = ClientConfig::from_settings(
                &self.api,
                |var| key.clone().or_else(|| std::env::var(var).ok()),
                self.insecure_http,
            )
            .map_err(ReadError::Setup)?;
            let _guard = self.runtime()?.enter();
            self.client = Some(Client::new(config).map_err(ReadError::Setup)?);
        }
        self.runtime()?;
        let (Some(runtime), Some(client)) = (&self.runtime, &self.client) else {
            return Err(ReadError::Unavailable(
                "the Engati client could not be set up".to_owned(),
            ));
        };
        let mut wait = READ_BACKOFF;
        let mut attempt = 1;
        loop {
            match runtime.block_on(call(client)) {
                Ok(found) => return Ok(found),
                Err(e) if attempt < READ_ATTEMPTS && rereadable(&e) => {
                    std::thread::sleep(wait);
                    wait *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(ReadError::Api(e)),
            }
        }
    }
}

impl UsersSource for EngatiReads {
    fn users(
        &mut self,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<crate::engati::api::BotUser>, ReadError> {
        self.read(async |client| client.users(attribute, value).await)
    }
}

impl History for EngatiReads {
    fn conversations(
        &mut self,
        channel_user_id: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<crate::engati::api::ConversationItem>, ReadError> {
        self.read(async |client| {
            client
                .conversations(channel_user_id, Some(start_ms), Some(end_ms))
                .await
        })
    }
}
