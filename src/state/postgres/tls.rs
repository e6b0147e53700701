//! How herald reaches PostgreSQL: the state URL's TLS settings, read as libpq reads them, and
//! the connection made over rustls.
//!
//! `sslmode` is `disable` (plain TCP), `prefer` (the default: TLS when the server offers it),
//! `require` (TLS), `verify-ca` (TLS, the server's certificate chain checked) or `verify-full`
//! (the chain and the host name checked). As in libpq, `prefer` and `require` do not check the
//! certificate unless `sslrootcert` names the roots to check it against; `verify-*` without it
//! check against the system's roots. tokio-postgres knows only the first three modes and no
//! `sslrootcert`, so herald takes both out of a `postgres://` URL before handing it on.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing (libpq's `prefer` and `require`): the connection is encrypted, not authenticated.
    Nothing,
    /// The chain, up to a trusted root (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A parsed state URL: what to connect to and how.
pub(super) struct Target {
    /// tokio-postgres's view of the URL.
    pub config: Config,
    check: Check,
    /// `sslrootcert`: a PEM file, or `system`.
    roots: Option<String>,
}

message_error! {
    /// Why the state's server cannot be connected to as its URL says: the URL, its TLS settings,
    /// the root certificates, or the connection itself.
    pub(super) struct TlsSetupError;
}

impl From<String> for TlsSetupError {
    fn from(message: String) -> TlsSetupError {
        TlsSetupError(message)
    }
}

/// Reads a state URL (or key=value connection string); the error says what is wrong with it.
pub(super) fn parse(url: &str) -> Result<Target, TlsSetupError> {
    let mut check = None;
    let mut roots = None;
    let mut handed_on = url.to_owned();
    // Only the pairs herald reads are touched; every other byte reaches tokio-postgres as
    // written (re-encoding a query changes `%20` into `+`, which it does not decode).
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if let Some((base, query)) = url.split_once('?').filter(|_| is_url) {
        let mut kept: Vec<String> = Vec::new();
        for pair in query.split('&') {
            let decoded: Vec<(String, String)> = url::form_urlencoded::parse(pair.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            match decoded.first().map(|(k, v)| (k.as_str(), v.as_str())) {
                Some(("sslrootcert", path)) => roots = Some(path.to_owned()),
                Some(("sslmode", "verify-ca")) => {
                    check = Some(Check::Chain);
                    kept.push("sslmode=require".to_owned());
                }
                Some(("sslmode", "verify-full")) => {
                    check = Some(Check::Full);
                    kept.push("sslmode=require".to_owned());
                }
                Some(("sslmode", mode)) if !["disable", "prefer", "require"].contains(&mode) => {
                    return Err(TlsSetupError(format!(
                        "sslmode={mode} is not one herald knows: use disable, prefer, require, \
                         verify-ca or verify-full"
                    )));
                }
                _ => kept.push(pair.to_owned()),
            }
        }
        handed_on = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
    }
    let config: Config = handed_on.parse().map_err(|e: postgres::Error| {
        let mut message = format!("the state URL is not a PostgreSQL connection string: {e}");
        if url.contains("verify-") {
            message.push_str(" (sslmode verify-ca and verify-full need the postgres:// URL form)");
        }
        TlsSetupError(message)
    })?;
    let check = match (check, roots.as_deref()) {
        // libpq: `system` roots are only safe with the host name checked too; otherwise any
        // publicly trusted certificate, anyone's, would pass.
        (Some(Check::Full), _) => Check::Full,
        (_, Some("system")) => {
            return Err(
                "sslrootcert=system needs sslmode=verify-full: the system's roots trust \
                 certificates issued to anyone, so the host name must be checked too"
                    .to_owned()
                    .into(),
            );
        }
        (Some(Check::Chain), None) => {
            return Err(
                "sslmode=verify-ca needs sslrootcert=PATH, the CA that signed the server's \
                 certificate (or use verify-full, which checks the host name against the \
                 system's roots)"
                    .to_owned()
                    .into(),
            );
        }
        // libpq: a root certificate turns `require` into `verify-ca`.
        (_, Some(_)) => Check::Chain,
        (other, None) => other.unwrap_or(Check::Nothing),
    };
    Ok(Target {
        config,
        check,
        roots,
    })
}

/// Connects as the target says: plain for `sslmode=disable`, else over rustls.
pub(super) fn connect(target: &Target) -> Result<Client, TlsSetupError> {
    if target.config.get_ssl_mode() == SslMode::Disable {
        return target.config.connect(NoTls).map_err(|e| with_causes(&e));
    }
    let tls = MakeRustlsConnect::new(client_config(target.check, target.roots.as_deref())?);
    target.config.connect(tls).map_err(|e| with_causes(&e))
}

/// An error and its causes, as `error: cause: cause` (a TLS failure's reason is a cause).
fn with_causes(error: &postgres::Error) -> TlsSetupError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    TlsSetupError(text)
}

fn client_config(check: Check, roots: Option<&str>) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = match check {
        Check::Nothing => None,
        Check::Chain | Check::Full => Some(
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(roots)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| TlsSetupError(format!("cannot check the server's certificate: {e}")))?,
        ),
    };
    let verifier = Arc::new(Verifier {
        check,
        chain,
        algorithms: provider.signature_verification_algorithms,
    });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The roots `sslrootcert` names: a PEM file, or the system's (`system`, or no file given).
fn root_store(roots: Option<&str>) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match roots {
        Some(path) if path != "system" => {
            let path = PathBuf::from(path);
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(std::iter::Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsSetupError(format!(
                    "sslrootcert {} holds no usable certificate",
                    path.display()
                )));
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "no system root certificates found to check the server's certificate; \
                     name the roots with sslrootcert=PATH in the state URL"
                        .to_owned()
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

/// Checks the server's certificate as much as `check` says. Without roots (`prefer`,
/// `require`) any certificate is accepted, as libpq does; `verify-ca` accepts a chain to a
/// trusted root whatever name it is for. The handshake's signatures are always checked, so
/// the session is encrypted end to end with whoever holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    check: Check,
    /// The chain's verifier, for `Chain` and `Full`.
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = self.chain.as_ref().filter(|_| self.check != Check::Nothing) else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == Check::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(url: &str) -> Target {
        match parse(url) {
            Ok(target) => target,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn libpq_modes_tokio_postgres_does_not_know_are_taken_out_of_the_url() {
        let t = read(
            "postgres://u:p%40ss@db.example.com:6543/app?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        );
        assert_eq!(t.check, Check::Full);
        assert_eq!(t.roots.as_deref(), Some("/ca.pem"));
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.config.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(t.config.get_ports(), &[6543]);

        let t = read("postgresql://u@db/app?sslmode=verify-ca&sslrootcert=ca.pem");
        assert_eq!(
            (t.check, t.roots.as_deref()),
            (Check::Chain, Some("ca.pem"))
        );
    }

    #[test]
    fn a_root_certificate_makes_require_check_the_chain_as_in_libpq() {
        assert_eq!(
            read("postgres://u@db/app?sslmode=require").check,
            Check::Nothing
        );
        let t = read("postgres://u@db/app?sslmode=require&sslrootcert=/ca.pem");
        assert_eq!(t.check, Check::Chain);
        assert_eq!(
            read("postgres://u@db/app").config.get_ssl_mode(),
            SslMode::Prefer
        );
    }

    #[test]
    fn other_parameters_reach_tokio_postgres_as_written() {
        let t = read("postgres://u@db/app?options=-c%20search_path%3Dx&sslmode=verify-full");
        assert_eq!(t.config.get_options(), Some("-c search_path=x"));
        let t = read("postgres://u@h1:5432,h2:5433/app?sslmode=require");
        assert_eq!(t.config.get_ports(), &[5432, 5433]);
        assert_eq!(t.check, Check::Nothing);
    }

    #[test]
    fn checks_that_would_trust_anyones_certificate_are_refused() {
        for url in [
            "postgres://u@db/app?sslmode=require&sslrootcert=system",
            "postgres://u@db/app?sslrootcert=system",
            "postgres://u@db/app?sslmode=verify-ca&sslrootcert=system",
            "postgres://u@db/app?sslmode=verify-ca",
        ] {
            assert!(parse(url).is_err(), "{url}");
        }
        let t = read("postgres://u@db/app?sslmode=verify-full&sslrootcert=system");
        assert_eq!(t.check, Check::Full);
        let Err(e) = parse("postgres://u@db/app?sslmode=bogus") else {
            panic!("an unknown sslmode is refused");
        };
        assert!(
            e.to_string()
                .contains("sslmode=bogus is not one herald knows"),
            "{e}"
        );
    }

    #[test]
    fn key_value_strings_are_handed_on_as_they_are() {
        let t = read("host=db user=u dbname=app sslmode=disable");
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        let Err(e) = parse("host=db sslmode=verify-full") else {
            panic!("verify-full needs the URL form");
        };
        assert!(
            e.to_string().contains("need the postgres:// URL form"),
            "{e}"
        );
    }
}
