//! `--ssl-ciphers`: an OpenSSL cipher string mapped onto the suites rustls
//! offers.
//!
//! As with OpenSSL, the string chooses the TLS 1.2 suites; TLS 1.3 suites
//! are all kept unless the string names some of them. Names are OpenSSL's
//! (`ECDHE-RSA-AES128-GCM-SHA256`) or IANA's
//! (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); the usual keywords select
//! groups (`HIGH`, `ECDHE`, `AESGCM`, ...), and `!`/`-` remove. rustls has
//! no CBC, RSA key exchange, DHE or null suites, so names and keywords for
//! those are known but select nothing (Mozilla's recommended strings name
//! DHE suites), and uvicorn's default `TLSv1` selects every suite rustls
//! has. Any other name is an error, so that a typo does not silently weaken
//! or empty the list.

use rustls::crypto::ring::cipher_suite as suite;
use rustls::SupportedCipherSuite;

/// Each suite rustls' ring provider has: OpenSSL name, IANA name, suite,
/// and the keywords that select it.
static SUITES: &[(&str, &str, SupportedCipherSuite, &[&str])] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
        suite::TLS13_AES_256_GCM_SHA384,
        &["AESGCM", "AES", "AES256", "SHA384"],
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
        suite::TLS13_AES_128_GCM_SHA256,
        &["AESGCM", "AES", "AES128", "SHA256"],
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        suite::TLS13_CHACHA20_POLY1305_SHA256,
        &["CHACHA20", "SHA256"],
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        &[
            "ECDHE", "EECDH", "KECDHE", "ECDSA", "AECDSA", "AESGCM", "AES", "AES256", "SHA384",
            "TLSV1.2",
        ],
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        &[
            "ECDHE", "EECDH", "KECDHE", "ECDSA", "AECDSA", "AESGCM", "AES", "AES128", "SHA256",
            "TLSV1.2",
        ],
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        &[
            "ECDHE", "EECDH", "KECDHE", "ECDSA", "AECDSA", "CHACHA20", "SHA256", "TLSV1.2",
        ],
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        &[
            "ECDHE", "EECDH", "KECDHE", "RSA", "ARSA", "AESGCM", "AES", "AES256", "SHA384",
            "TLSV1.2",
        ],
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        &[
            "ECDHE", "EECDH", "KECDHE", "RSA", "ARSA", "AESGCM", "AES", "AES128", "SHA256",
            "TLSV1.2",
        ],
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        &[
            "ECDHE", "EECDH", "KECDHE", "RSA", "ARSA", "CHACHA20", "SHA256", "TLSV1.2",
        ],
    ),
];

/// Keywords that select every suite.
static EVERYTHING: &[&str] = &[
    "ALL",
    "DEFAULT",
    "HIGH",
    "TLSV1",
    "SSLV3",
    "COMPLEMENTOFDEFAULT",
    "@SECLEVEL=0",
    "@SECLEVEL=1",
    "@SECLEVEL=2",
    "@STRENGTH",
];

/// OpenSSL keywords and names for what rustls does not offer: accepted,
/// selecting nothing.
static UNAVAILABLE: &[&str] = &[
    "ANULL",
    "ENULL",
    "NULL",
    "COMPLEMENTOFALL",
    "MEDIUM",
    "LOW",
    "EXPORT",
    "EXP",
    "MD5",
    "RC4",
    "3DES",
    "DES",
    "IDEA",
    "SEED",
    "CAMELLIA",
    "ARIA",
    "PSK",
    "APSK",
    "SRP",
    "DSS",
    "ADSS",
    "DH",
    "DHE",
    "EDH",
    "KDHE",
    "KEDH",
    "ADH",
    "AECDH",
    "KRSA",
    "SHA1",
    "SHA",
    "CBC",
    "AESCCM",
    "AESCCM8",
    "KECDHEPSK",
    "KDHEPSK",
    "KRSAPSK",
    "SSLV2",
    "TLSV1.0",
    "TLSV1.1",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-SHA256",
    "DHE-RSA-AES256-SHA256",
    "DHE-RSA-AES128-SHA",
    "DHE-RSA-AES256-SHA",
    "DHE-DSS-AES128-GCM-SHA256",
    "DHE-DSS-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES128-CCM",
    "ECDHE-ECDSA-AES256-CCM",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA256",
    "AES256-SHA256",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
    "ECDHE-RSA-DES-CBC3-SHA",
    "EDH-RSA-DES-CBC3-SHA",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
];

/// The suites `spec` selects, in its order (TLS 1.3 first); an unknown
/// name, or a string that leaves no suite at all, is an error.
pub fn select(spec: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut chosen: Vec<usize> = Vec::new();
    let mut removed: Vec<usize> = Vec::new();
    for token in spec.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        let (remove, name) = match token.as_bytes()[0] {
            b'!' | b'-' => (true, &token[1..]),
            b'+' => (false, &token[1..]),
            _ => (false, token),
        };
        let matched = matching(name)?;
        if remove {
            removed.extend(matched);
        } else {
            chosen.extend(matched);
        }
    }
    let mut unique: Vec<usize> = Vec::new();
    for i in chosen {
        if !removed.contains(&i) && !unique.contains(&i) {
            unique.push(i);
        }
    }
    let mut chosen = unique;
    let is_tls13 = |i: &usize| SUITES[*i].2.tls13().is_some();
    if !chosen.iter().any(is_tls13) {
        // OpenSSL's cipher string leaves TLS 1.3 alone.
        let tls13 = (0..SUITES.len())
            .filter(is_tls13)
            .filter(|i| !removed.contains(i));
        chosen.splice(0..0, tls13.collect::<Vec<_>>());
    }
    chosen.sort_by_key(|i| !is_tls13(i));
    if chosen.is_empty() {
        return Err(format!("ssl_ciphers {spec:?} selects no cipher suite"));
    }
    Ok(chosen.into_iter().map(|i| SUITES[i].2).collect())
}

/// Indices into `SUITES` that `name` (a suite name or a keyword) selects.
fn matching(name: &str) -> Result<Vec<usize>, String> {
    let upper = name.to_ascii_uppercase();
    if EVERYTHING.contains(&upper.as_str()) {
        return Ok((0..SUITES.len()).collect());
    }
    // `ECDHE+AESGCM`: suites with every keyword.
    let parts: Vec<&str> = upper.split('+').collect();
    let all: Vec<usize> = (0..SUITES.len())
        .filter(|&i| {
            let (openssl, iana, _, keywords) = SUITES[i];
            parts
                .iter()
                .all(|p| *p == openssl || *p == iana || keywords.contains(p))
        })
        .collect();
    if !all.is_empty() || parts.iter().all(|p| known(p)) {
        return Ok(all);
    }
    Err(format!("ssl_ciphers: unknown cipher {name:?}"))
}

fn known(name: &str) -> bool {
    UNAVAILABLE.contains(&name)
        || EVERYTHING.contains(&name)
        || SUITES.iter().any(|(openssl, iana, _, keywords)| {
            *openssl == name || *iana == name || keywords.contains(&name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    fn names(spec: &str) -> Vec<CipherSuite> {
        select(spec).unwrap().iter().map(|s| s.suite()).collect()
    }

    #[test]
    fn uvicorns_default_selects_every_suite() {
        assert_eq!(names("TLSv1").len(), SUITES.len());
    }

    #[test]
    fn a_tls12_list_keeps_every_tls13_suite_first() {
        let chosen = names("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256");
        assert_eq!(chosen.len(), 5);
        assert_eq!(
            chosen[3],
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        );
        assert_eq!(
            chosen[4],
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        );
    }

    #[test]
    fn naming_a_tls13_suite_chooses_tls13_suites_too() {
        let chosen = names("TLS_CHACHA20_POLY1305_SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(
            chosen,
            [
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
    }

    #[test]
    fn keywords_combine_and_exclude() {
        let chosen = names("ECDHE+AESGCM:!AES256");
        assert!(chosen.contains(&CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256));
        assert!(!chosen.contains(&CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        assert!(!chosen.contains(&CipherSuite::TLS13_AES_256_GCM_SHA384));
        assert!(!chosen.contains(&CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256));
    }

    #[test]
    fn mozillas_intermediate_string_is_accepted() {
        let spec = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
                    ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
                    DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
        assert_eq!(names(spec).len(), SUITES.len());
    }

    #[test]
    fn an_unknown_name_is_an_error() {
        let err = select("ECDHE-RSA-AES128-GCM-SHA265").unwrap_err();
        assert!(
            err.contains("unknown cipher \"ECDHE-RSA-AES128-GCM-SHA265\""),
            "{err}"
        );
    }

    #[test]
    fn a_string_that_selects_nothing_is_an_error() {
        assert!(select("DHE-RSA-AES128-GCM-SHA256:!ALL")
            .unwrap_err()
            .contains("selects no cipher suite"));
    }
}
