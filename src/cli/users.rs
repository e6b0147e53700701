//! Where `plan` and `diff` read Users API audiences from: Engati through the client (the key
//! read on first use, so a project without such audiences needs none), or the built-in
//! emulator on loopback.

use crate::emulator;
use crate::engati::{Client, ClientConfig};
use crate::model::Api;
use crate::render::UsersSource;

/// Attempts per Users API read.
const READ_ATTEMPTS: u32 = 4;
/// The first pause between attempts; doubled for every further one.
const READ_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a failed read may pass when tried again: not a refusal of the key or the request.
fn rereadable(e: &crate::engati::ApiError) -> bool {
    use crate::engati::ApiError;
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
pub(crate) struct ApiUsers {
    api: Api,
    insecure_http: bool,
    key_override: Option<String>,
    runtime: Option<tokio::runtime::Runtime>,
    client: Option<Client>,
    emulator: Option<emulator::Running>,
}

impl ApiUsers {
    /// Users from `api`; the key is read from its variable on first use.
    pub(crate) fn new(api: &Api, insecure_http: bool) -> ApiUsers {
        ApiUsers {
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
    pub(crate) fn use_builtin_emulator(&mut self) -> Result<String, String> {
        let runtime = self.runtime()?;
        let running = runtime
            .block_on(emulator::start(emulator::Config::local(
                emulator::Seed::builtin(),
            )))
            .map_err(|e| format!("cannot start the built-in emulator: {e}"))?;
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

    fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, String> {
        if self.runtime.is_none() {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))?;
            self.runtime = Some(rt);
        }
        self.runtime
            .as_ref()
            .ok_or_else(|| "no async runtime".to_owned())
    }
}

impl UsersSource for ApiUsers {
    fn users(
        &mut self,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<crate::engati::api::BotUser>, String> {
        if self.client.is_none() {
            let key = self.key_override.clone();
            let config = ClientConfig::from_settings(
                &self.api,
                |var| key.clone().or_else(|| std::env::var(var).ok()),
                self.insecure_http,
            )
            .map_err(|e| e.to_string())?;
            let _guard = self.runtime()?.enter();
            self.client = Some(Client::new(config).map_err(|e| e.to_string())?);
        }
        self.runtime()?;
        let (Some(runtime), Some(client)) = (&self.runtime, &self.client) else {
            return Err("the Engati client could not be set up".to_owned());
        };
        // A read changes nothing, so any answer that may pass is tried again: apply reads
        // these audiences again to check its plan, and one lost answer should not refuse it.
        let mut wait = READ_BACKOFF;
        for attempt in 1.. {
            match runtime.block_on(client.users(attribute, value)) {
                Ok(users) => return Ok(users),
                Err(e) if attempt < READ_ATTEMPTS && rereadable(&e) => {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the Users API could not be read".to_owned())
    }
}
