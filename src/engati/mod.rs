//! Engati: the API's wire format ([`api`]) and the client that speaks it.

pub mod api;
