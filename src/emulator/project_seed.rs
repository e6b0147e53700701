//! [`Seed::from_project`]: an emulator seed that serves a project, so any project (`herald
//! init`'s starter included) can be rehearsed against the emulator: its customer and bot (and
//! each environment's), its templates as approved, every flow its campaigns start, and the
//! recipients of its CSV and inline audiences as the bot's users.

use std::collections::BTreeMap;

use super::seed::{Seed, SeedBot, SeedCustomer, SeedUser};
use crate::load::LoadedProject;
use crate::render::{NoUsersApi, Resolved, Resolver};
use crate::validate::Catalog;

impl Seed {
    /// A seed for a validated project. Users API audiences have no users here: the emulator
    /// can only answer them from a seed file (`--seed`) that lists such users.
    pub fn from_project(loaded: &LoadedProject, catalog: &Catalog) -> Seed {
        let mut bot = SeedBot {
            key: String::new(),
            name: Some("seeded from the project".to_owned()),
            whatsapp: true,
            templates: catalog
                .templates
                .iter()
                .map(|(name, item)| (name.clone(), item.value.clone()))
                .collect(),
            flows: flows(catalog),
            users: users(loaded, catalog),
        };
        // The default target and every environment's: each gets the same bot.
        let mut targets: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        if let Some(settings) = &catalog.settings {
            let envs = std::iter::once(None).chain(settings.environments.keys().map(Some));
            for env in envs {
                let api = settings.api_for(env.map(String::as_str));
                let keys = targets.entry(api.customer_id).or_default();
                if !keys.contains(&api.bot_key) {
                    keys.push(api.bot_key);
                }
            }
        }
        let customers = targets
            .into_iter()
            .map(|(id, keys)| SeedCustomer {
                id,
                name: None,
                bots: keys
                    .into_iter()
                    .map(|key| {
                        bot.key = key;
                        bot.clone()
                    })
                    .collect(),
            })
            .collect();
        Seed {
            keys: Seed::builtin().keys,
            customers,
        }
    }
}

/// Every flow a campaign starts: API triggers' and quick-reply buttons'.
fn flows(catalog: &Catalog) -> Vec<String> {
    let mut flows: Vec<String> = Vec::new();
    for item in catalog.campaigns.values() {
        let send = &item.value.send;
        if let Some(trigger) = &send.trigger {
            flows.push(trigger.flow.clone());
        }
        if let Some(params) = send.template_params() {
            flows.extend(params.buttons.iter().filter_map(|b| b.flow.clone()));
        }
    }
    flows.sort();
    flows.dedup();
    flows
}

/// The recipients of the project's CSV and inline audiences, each once, with their fields as
/// attributes. Audiences that cannot be read here (a Users API query, a missing file) are
/// left out: `herald validate` reports those.
fn users(loaded: &LoadedProject, catalog: &Catalog) -> Vec<SeedUser> {
    let mut no_api = NoUsersApi;
    let mut resolver = Resolver::new(catalog, &loaded.resources, &mut no_api);
    let mut users: BTreeMap<String, SeedUser> = BTreeMap::new();
    let mut add = |resolved: Option<std::sync::Arc<Resolved>>| {
        for recipient in resolved.iter().flat_map(|r| &r.recipients) {
            users
                .entry(recipient.phone.to_string())
                .or_insert_with(|| SeedUser {
                    phone: recipient.phone.to_string(),
                    channel_user_id: None,
                    attributes: recipient
                        .fields
                        .to_map()
                        .into_iter()
                        .filter(|(name, _)| name != "phone")
                        .collect(),
                    conversations: Vec::new(),
                });
        }
    };
    for name in catalog.audiences.keys() {
        add(resolver.named_audience(name));
    }
    for item in catalog.campaigns.values() {
        add(resolver.campaign_audience(&item.value.audience, &item.loc));
    }
    users.into_values().collect()
}
