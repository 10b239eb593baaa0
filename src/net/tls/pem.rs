//! PEM blocks (RFC 7468), including the `Proc-Type`/`DEK-Info` headers
//! of OpenSSL's legacy encrypted keys, which strict RFC 7468 readers
//! refuse. Text outside the blocks (OpenSSL's "Bag Attributes" and the
//! like) is ignored, as OpenSSL does.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

#[derive(Debug)]
pub struct Block {
    /// What follows `-----BEGIN `: `CERTIFICATE`, `PRIVATE KEY`, ...
    pub label: String,
    /// `Name: value` lines between the BEGIN line and the base64 body.
    pub headers: Vec<(String, String)>,
    pub der: Vec<u8>,
}

impl Block {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every block in `text`, in order; an unterminated block or a body that is
/// not base64 is an error naming the label.
pub fn parse(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut terminated = false;
        for line in lines.by_ref() {
            if line == end {
                terminated = true;
                break;
            }
            match line.split_once(':') {
                Some((name, value)) if body.is_empty() => {
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
                _ => body.push_str(line),
            }
        }
        if !terminated {
            return Err(format!("the PEM block {label} has no END line"));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("the PEM block {label} is not valid base64"))?;
        blocks.push(Block {
            label: label.to_owned(),
            headers,
            der,
        });
    }
    Ok(blocks)
}

/// `der` as a PEM block with 64-character lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_with_headers_and_ignores_text_around_them() {
        let text = "Bag Attributes\n    localKeyID: 01\n-----BEGIN RSA PRIVATE KEY-----\n\
                    Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00FF\n\nAAEC\nAw==\n\
                    -----END RSA PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nBAU=\n\
                    -----END CERTIFICATE-----\n";
        let blocks = parse(text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "RSA PRIVATE KEY");
        assert_eq!(blocks[0].header("dek-info"), Some("AES-256-CBC,00FF"));
        assert_eq!(blocks[0].der, [0, 1, 2, 3]);
        assert_eq!(blocks[1].label, "CERTIFICATE");
        assert_eq!(blocks[1].der, [4, 5]);
    }

    #[test]
    fn refuses_an_unterminated_block_and_bad_base64() {
        assert!(parse("-----BEGIN CERTIFICATE-----\nAAAA\n")
            .unwrap_err()
            .contains("no END line"));
        assert!(
            parse("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
                .unwrap_err()
                .contains("not valid base64")
        );
    }

    #[test]
    fn encodes_what_it_reads() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(parse(&pem).unwrap()[0].der, der);
    }
}
