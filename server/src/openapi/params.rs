//! Path parameters, shared by the routes that take them.

#![allow(dead_code)] // Only their descriptions are used; handlers extract tuples.

use utoipa::IntoParams;

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SitePath {
    /// The site's id.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CampaignPath {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
    /// The campaign's id.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "spring")]
    campaign: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
    /// A version number (1, 2, …).
    #[param(minimum = 1, example = 1)]
    version: u64,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SkillPath {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
    /// The skill's id, as the document's `skills` names it.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "sales")]
    skill: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ContactPath {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
    /// The contact's id.
    #[param(example = "c-1")]
    contact: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InboxPath {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
    /// The inbox's id.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "shop")]
    inbox: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SmsCampaignPath {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
    /// The SMS campaign's id.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "spring-sms")]
    id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// The key's id (`key_…`).
    #[param(example = "key_3f9a1c0d2b4e6f80")]
    id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EngagementPath {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    site: String,
    /// An offsite engagement's id.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "print-qr")]
    engagement: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PkgPath {
    /// A file of the runtime (`engage.js`, `engage_bg.wasm`, content-hashed names).
    path: String,
}
