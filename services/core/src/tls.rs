//! TLS for gRPC: the server's identity, client certificates (mTLS) for the
//! parties, and `hub dev-certs`, which makes a local CA and certificates
//! for the demo and the tests.
//!
//! A party's identity is the common name (CN) of its client certificate,
//! which the TLS layer has verified against `HUB_TLS_CLIENT_CA`. Client
//! certificates are optional at the TLS level, so bearer tokens keep
//! working as the fallback; a call with neither is `UNAUTHENTICATED`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use x509_cert::der::Decode;
use x509_cert::der::asn1::{ObjectIdentifier, PrintableStringRef, Utf8StringRef};

/// Files of the server's TLS setup.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The CA that signs client certificates (PEM); without it, no mTLS.
    pub client_ca: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl TlsFiles {
    /// The tonic server configuration: the server's identity, and client
    /// certificates verified against the client CA but not required.
    pub fn server_config(&self) -> Result<ServerTlsConfig, String> {
        let identity = Identity::from_pem(read(&self.cert)?, read(&self.key)?);
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca {
            config = config
                .client_ca_root(Certificate::from_pem(read(ca)?))
                .client_auth_optional(true);
        }
        Ok(config)
    }
}

const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// The subject common name of a DER certificate.
#[must_use]
pub fn common_name(der: &[u8]) -> Option<String> {
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    certificate
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|attribute| attribute.oid == COMMON_NAME)
        .and_then(|attribute| {
            attribute
                .value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    attribute
                        .value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_owned())
                })
                .ok()
        })
}

/// What `hub dev-certs` wrote.
#[derive(Clone, Debug)]
pub struct DevCerts {
    /// The CA certificate (trust it on clients; `HUB_TLS_CLIENT_CA` on the server).
    pub ca: PathBuf,
    /// The server certificate and key.
    pub server: (PathBuf, PathBuf),
    /// Per party: its certificate and key.
    pub parties: Vec<(String, PathBuf, PathBuf)>,
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "HR integration hub (development)");
    dn
}

/// Makes a development CA, a server certificate for `hosts` and a client
/// certificate per party (CN = party id) in `dir`. For the demo and tests
/// only: the CA key is written next to the certificates.
pub fn dev_certs(dir: &Path, hosts: &[String], parties: &[String]) -> Result<DevCerts, String> {
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = dn("HR integration hub development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
    let ca_path = write(dir, "ca.pem", &ca.pem())?;
    write(dir, "ca-key.pem", &ca_key_pem)?;

    let mut server_params = CertificateParams::new(hosts.to_vec()).map_err(err)?;
    server_params.distinguished_name = dn("hub");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().map_err(err)?;
    let server_cert = server_params.signed_by(&server_key, &ca).map_err(err)?;
    let server = (
        write(dir, "server.pem", &server_cert.pem())?,
        write(dir, "server-key.pem", &server_key.serialize_pem())?,
    );

    let mut written = Vec::new();
    for party in parties {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(party);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &ca).map_err(err)?;
        written.push((
            party.clone(),
            write(dir, &format!("{party}.pem"), &cert.pem())?,
            write(dir, &format!("{party}-key.pem"), &key.serialize_pem())?,
        ));
    }
    Ok(DevCerts {
        ca: ca_path,
        server,
        parties: written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_certs_carry_the_party_as_common_name() {
        let dir = std::env::temp_dir().join(format!("hub-dev-certs-{}", std::process::id()));
        let certs = dev_certs(
            &dir,
            &["localhost".to_owned()],
            &["wens".to_owned(), "future-smart".to_owned()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (party, cert, _) in &certs.parties {
            let pem = std::fs::read_to_string(cert).unwrap_or_else(|e| panic!("{e}"));
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = base64_decode(&b64);
            assert_eq!(common_name(&der).as_deref(), Some(party.as_str()));
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let mut buffer = 0u32;
        let mut bits = 0;
        for c in text.bytes().filter(|c| *c != b'=') {
            let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
                continue;
            };
            buffer = (buffer << 6) | v as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        out
    }
}
