//! Certificates and private keys from PEM files, as Python's
//! `SSLContext.load_cert_chain` takes them: keys in PKCS#8, PKCS#1 (RSA)
//! or SEC1 (EC), plain or encrypted with a password (PKCS#8's PBES2, or
//! OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` headers on PKCS#1 and SEC1).

use super::pem::{self, Block};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipher, BlockDecryptMut, KeyInit, KeyIvInit};
use md5::{Digest, Md5};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

/// Every certificate in the PEM file at `path` (`what` names the setting
/// in errors); at least one.
pub fn load_certificates(what: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let blocks = read_blocks(what, path)?;
    let certs: Vec<_> = blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE" || b.label == "TRUSTED CERTIFICATE")
        .map(|b| CertificateDer::from(b.der))
        .collect();
    if certs.is_empty() {
        return Err(format!("{what}: no PEM certificate in {path}"));
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`, decrypted with
/// `password` if it is encrypted.
pub fn load_private_key(
    what: &str,
    path: &str,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, String> {
    let blocks = read_blocks(what, path)?;
    let Some(block) = blocks
        .into_iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
    else {
        return Err(format!("{what}: no PEM private key in {path}"));
    };
    decode_key(block, password).map_err(|e| format!("{what}: {e} ({path})"))
}

fn read_blocks(what: &str, path: &str) -> Result<Vec<Block>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{what}: cannot read {path}: {e}"))?;
    pem::parse(&text).map_err(|e| format!("{what}: {e} in {path}"))
}

fn decode_key(block: Block, password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let legacy_encrypted = block
        .header("Proc-Type")
        .is_some_and(|v| v.replace(' ', "").eq_ignore_ascii_case("4,ENCRYPTED"));
    let needs_password = legacy_encrypted || block.label == "ENCRYPTED PRIVATE KEY";
    let password = match (needs_password, password) {
        (true, None) => return Err("the key is encrypted: give its password".into()),
        (_, password) => password.unwrap_or_default(),
    };
    let der = if legacy_encrypted {
        decrypt_legacy(&block, password.as_bytes())?
    } else {
        block.der
    };
    Ok(match block.label.as_str() {
        "PRIVATE KEY" => PrivatePkcs8KeyDer::from(der).into(),
        "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(der).into(),
        "EC PRIVATE KEY" => PrivateSec1KeyDer::from(der).into(),
        "ENCRYPTED PRIVATE KEY" => PrivatePkcs8KeyDer::from(decrypt_pkcs8(&der, password)?).into(),
        other => return Err(format!("unsupported key type {other}")),
    })
}

/// PKCS#8 `EncryptedPrivateKeyInfo` (PBES2 with PBKDF2 or scrypt, AES or
/// 3DES), as `openssl pkcs8 -topk8` and `cryptography` write it.
fn decrypt_pkcs8(der: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| format!("not a valid encrypted PKCS#8 key: {e}"))?;
    // pkcs5 reports a bad padding (the sign of a wrong password) as
    // `EncryptFailed`; a wrong key may also leave bytes that are no DER.
    let document = info.decrypt(password).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed,
        )
        | pkcs8::Error::Asn1(_) => "wrong password for the encrypted key".to_owned(),
        other => format!("cannot decrypt the key: {other}"),
    })?;
    Ok(document.as_bytes().to_vec())
}

/// OpenSSL's legacy PEM encryption: `DEK-Info: CIPHER,IV-in-hex`, the key
/// derived from the password with `EVP_BytesToKey` (MD5, one round, the
/// first 8 bytes of the IV as salt).
fn decrypt_legacy(block: &Block, password: &[u8]) -> Result<Vec<u8>, String> {
    let dek_info = block
        .header("DEK-Info")
        .ok_or("an encrypted key without a DEK-Info header")?;
    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or("a malformed DEK-Info header")?;
    let iv = decode_hex(iv_hex.trim()).ok_or("a malformed DEK-Info IV")?;
    if iv.len() < 8 {
        return Err("a malformed DEK-Info IV".into());
    }
    // The cipher's key length, and its CBC decryption.
    type Decrypt = fn(&[u8], &[u8], &[u8]) -> Result<Option<Vec<u8>>, String>;
    let (key_len, decrypt): (usize, Decrypt) = match cipher.trim().to_ascii_uppercase().as_str() {
        "AES-128-CBC" => (16, cbc_decrypt::<aes::Aes128>),
        "AES-192-CBC" => (24, cbc_decrypt::<aes::Aes192>),
        "AES-256-CBC" => (32, cbc_decrypt::<aes::Aes256>),
        "DES-EDE3-CBC" => (24, cbc_decrypt::<des::TdesEde3>),
        other => return Err(format!("unsupported key encryption {other}")),
    };
    let key = bytes_to_key(password, &iv[..8], key_len);
    let plain = decrypt(&key, &iv, &block.der)?;
    // A wrong password leaves bad padding, or (rarely) padding that happens
    // to fit around bytes that are not a DER SEQUENCE.
    match plain {
        Some(plain) if plain.first() == Some(&0x30) => Ok(plain),
        _ => Err("wrong password for the encrypted key".into()),
    }
}

/// CBC decryption with PKCS#7 padding; `Ok(None)` when the padding is bad.
fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Option<Vec<u8>>, String>
where
    C: BlockDecryptMut + BlockCipher + KeyInit,
{
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| "a malformed DEK-Info IV".to_owned())?;
    Ok(decryptor.decrypt_padded_vec_mut::<Pkcs7>(data).ok())
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut md5 = Md5::new();
        md5.update(&previous);
        md5.update(password);
        md5.update(salt);
        previous = md5.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    key.truncate(len);
    key
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_key_chains_md5_rounds() {
        // (tests/test_tls.py decrypts keys that `cryptography` encrypted.)
        let key = bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        assert_eq!(key.len(), 32);
        // The first 16 bytes are MD5(password || salt).
        let mut md5 = Md5::new();
        md5.update(b"secret");
        md5.update([1, 2, 3, 4, 5, 6, 7, 8]);
        let first = md5.finalize();
        assert_eq!(&key[..16], first.as_slice());
        // The next 16 are MD5(first || password || salt).
        let mut md5 = Md5::new();
        md5.update(first);
        md5.update(b"secret");
        md5.update([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&key[16..], md5.finalize().as_slice());
    }

    #[test]
    fn hex_is_strict() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("abc"), None);
    }

    #[test]
    fn an_encrypted_key_without_password_is_refused() {
        let block = Block {
            label: "ENCRYPTED PRIVATE KEY".into(),
            headers: vec![],
            der: vec![0x30, 0],
        };
        assert!(decode_key(block, None)
            .unwrap_err()
            .contains("give its password"));
    }
}
