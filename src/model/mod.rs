//! The typed model of herald's files, from which the JSON schemas are generated.

pub mod pricing;
pub mod project;
pub mod resources;
pub mod window;

pub use pricing::{CategoryRates, PricingFile};
pub use project::{
    Api, ApiOverlay, ApplySettings, Backend, Budget, ByteSize, Environment, Files, FrequencyCap,
    Project, Reconcile, Safety, StateConfig, TriggerApi, VarValue,
};
pub use resources::{
    ApprovedButton, Audience, AudienceRef, BroadcastSend, ButtonParam, Campaign, Category,
    Document, HeaderKind, HeaderParam, InlineUser, Late, Media, OnChange, ResourceFile, Schedule,
    Send, Template, TemplateBroadcastSend, TemplateParams, TemplateSend, TriggerSend, UrlButton,
    UsersApi,
};
pub use window::{Day, Window};
