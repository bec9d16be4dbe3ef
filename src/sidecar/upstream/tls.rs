//! The TLS client settings for `https` upstreams: the public (webpki) roots plus the
//! certificates of `--upstream-ca-file`.

use rustls::pki_types::pem::PemObject;
use tracing::debug;

use super::error::UpstreamConfigError;

/// The TLS client settings: the public (webpki) roots, plus the certificates of `ca_file` when
/// one is given. A file that cannot be read, holds no certificate or a malformed one stops the
/// start-up rather than failing every call later.
pub(super) fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, UpstreamConfigError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let ca_error = |reason: String| UpstreamConfigError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|err| ca_error(err.to_string()))?;
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|err| ca_error(format!("not a PEM certificate file ({err})")))?;
            roots
                .add(cert)
                .map_err(|err| ca_error(format!("a certificate was refused ({err})")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_error("it holds no PEM certificate".to_owned()));
        }
        debug!(
            certificates = added,
            "Extra CA certificates trusted for the upstream"
        );
    }
    rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .map_err(|err| UpstreamConfigError::Tls(err.to_string()))
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}
