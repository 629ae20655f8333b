//! Against real SoftHSM2 tokens. SoftHSM2 reads `SOFTHSM2_CONF` once per initialisation, so
//! every test in this binary shares one config and token directory ([`fixture`]), made before
//! the module is first initialised, with one token per test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::*;

const SOFTHSM2: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "1234-user";
const SO_PIN: &str = "12345678-so";

/// The tokens the tests use, one each.
const TOKENS: &[&str] = &[
    "t-keys",
    "t-gcm",
    "t-pin",
    "t-shared",
    "t-destroy",
    "t-concurrent",
    "t-random",
    "t-outside",
    "t-conf",
];

struct Fixture {
    conf: PathBuf,
}

/// The prefix of the fixture's directory, `<prefix><pid>` in the temp dir.
const DIR_PREFIX: &str = "trent-kms-keystore-hsm-tests-";

/// A static is never dropped, so each run removes the directories of earlier runs whose
/// process is gone.
fn remove_stale_fixtures() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        remove_stale_fixtures();
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let tokens = dir.join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        for label in TOKENS {
            let out = Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", &conf)
                .args(["--init-token", "--free", "--label", label])
                .args(["--so-pin", SO_PIN, "--pin", PIN])
                .output()
                .expect("softhsm2-util is installed");
            assert!(
                out.status.success(),
                "softhsm2-util --init-token {label}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Fixture { conf }
    })
}

fn softhsm() -> Arc<HsmModule> {
    module(Path::new(SOFTHSM2), Some(&fixture().conf)).unwrap()
}

fn connect(label: &str) -> HsmToken {
    HsmToken::connect(softhsm(), label, PIN).unwrap()
}

#[test]
fn keys_are_generated_in_the_token_sensitive_and_not_extractable() {
    let token = connect("t-keys");
    assert_eq!(token.token_label(), "t-keys");
    assert_eq!(token.key_info("arn:aws:kms:r1:1:key/a").unwrap(), None);
    token.create_aes_key("arn:aws:kms:r1:1:key/a").unwrap();
    let info = token.key_info("arn:aws:kms:r1:1:key/a").unwrap().unwrap();
    assert_eq!(
        info,
        HsmKeyInfo {
            label: "arn:aws:kms:r1:1:key/a".into(),
            key_type_aes: true,
            value_len: 32,
            extractable: false,
            sensitive: true,
            can_encrypt: true,
            can_decrypt: true,
        }
    );
    assert_eq!(
        token.create_aes_key("arn:aws:kms:r1:1:key/a"),
        Err(HsmError::KeyExists("arn:aws:kms:r1:1:key/a".into()))
    );
    assert!(matches!(
        token.create_aes_key(""),
        Err(HsmError::InvalidInput(_))
    ));
    // Keys are token objects: another login (after this one ended) still finds it.
    drop(token);
    let token = connect("t-keys");
    assert!(token.key_info("arn:aws:kms:r1:1:key/a").unwrap().is_some());
    token.health_check().unwrap();
}

#[test]
fn gcm_round_trips_and_refuses_any_change() {
    let token = connect("t-gcm");
    token.create_aes_key("k").unwrap();
    let aad = b"\x00\x00\x00\x05trent";
    let plaintext = b"a data key of thirty-two bytes!!";
    let sealed = token.encrypt_gcm("k", aad, plaintext).unwrap();
    assert_eq!(sealed.ciphertext.len(), plaintext.len());
    assert_ne!(sealed.ciphertext.as_slice(), plaintext.as_slice());
    let opened = token
        .decrypt_gcm("k", &sealed.iv, aad, &sealed.ciphertext, &sealed.tag)
        .unwrap();
    assert_eq!(opened.as_slice(), plaintext.as_slice());

    let again = token.encrypt_gcm("k", aad, plaintext).unwrap();
    assert_ne!(again.iv, sealed.iv, "every encryption draws its IV");

    let decrypt =
        |iv: &[u8], aad: &[u8], ct: &[u8], tag: &[u8]| token.decrypt_gcm("k", iv, aad, ct, tag);
    let mut other_aad = aad.to_vec();
    other_aad[4] ^= 1;
    assert_eq!(
        decrypt(&sealed.iv, &other_aad, &sealed.ciphertext, &sealed.tag),
        Err(HsmError::DecryptFailed)
    );
    let mut tag = sealed.tag;
    tag[15] ^= 0x80;
    assert_eq!(
        decrypt(&sealed.iv, aad, &sealed.ciphertext, &tag),
        Err(HsmError::DecryptFailed)
    );
    let mut ct = sealed.ciphertext.clone();
    ct[0] ^= 1;
    assert_eq!(
        decrypt(&sealed.iv, aad, &ct, &sealed.tag),
        Err(HsmError::DecryptFailed)
    );
    let mut iv = sealed.iv;
    iv[0] ^= 1;
    assert_eq!(
        decrypt(&iv, aad, &sealed.ciphertext, &sealed.tag),
        Err(HsmError::DecryptFailed)
    );
    // Another key of the same token does not open it either.
    token.create_aes_key("k2").unwrap();
    assert_eq!(
        token.decrypt_gcm("k2", &sealed.iv, aad, &sealed.ciphertext, &sealed.tag),
        Err(HsmError::DecryptFailed)
    );

    // Refused before the token (empty AAD would crash SoftHSM2).
    assert!(matches!(
        token.encrypt_gcm("k", b"", plaintext),
        Err(HsmError::InvalidInput(_))
    ));
    assert!(matches!(
        decrypt(&sealed.iv, b"", &sealed.ciphertext, &sealed.tag),
        Err(HsmError::InvalidInput(_))
    ));
    assert!(matches!(
        decrypt(&sealed.iv[..11], aad, &sealed.ciphertext, &sealed.tag),
        Err(HsmError::InvalidInput(_))
    ));
    assert!(matches!(
        decrypt(&sealed.iv, aad, &sealed.ciphertext, &sealed.tag[..12]),
        Err(HsmError::InvalidInput(_))
    ));

    // An empty plaintext still authenticates its AAD.
    let empty = token.encrypt_gcm("k", aad, b"").unwrap();
    assert!(empty.ciphertext.is_empty());
    assert!(token
        .decrypt_gcm("k", &empty.iv, aad, b"", &empty.tag)
        .unwrap()
        .is_empty());
    assert_eq!(
        token.decrypt_gcm("k", &empty.iv, &other_aad, b"", &empty.tag),
        Err(HsmError::DecryptFailed)
    );
}

#[test]
fn a_wrong_pin_is_invalid_credentials() {
    let err = HsmToken::connect(softhsm(), "t-pin", "not-the-pin").unwrap_err();
    assert_eq!(err, HsmError::PinIncorrect);
    assert_eq!(err.connection_error_code(), "INVALID_CREDENTIALS");
    assert!(!err.to_string().contains("not-the-pin"));
    // The failure left nothing logged in: the right PIN works.
    let token = connect("t-pin");
    token.health_check().unwrap();
    // While logged in, a second connection must still present the right PIN.
    let err = HsmToken::connect(softhsm(), "t-pin", "not-the-pin").unwrap_err();
    assert_eq!(err, HsmError::PinIncorrect);
}

#[test]
fn an_unknown_token_is_cluster_not_found() {
    let err = HsmToken::connect(softhsm(), "t-nonesuch", PIN).unwrap_err();
    assert_eq!(err, HsmError::TokenNotFound("t-nonesuch".into()));
    assert_eq!(err.connection_error_code(), "CLUSTER_NOT_FOUND");
}

#[test]
fn two_connections_share_the_login_until_the_last_goes() {
    let first = connect("t-shared");
    let second = connect("t-shared");
    first.create_aes_key("k").unwrap();
    let sealed = first.encrypt_gcm("k", b"aad", b"secret").unwrap();
    drop(first);
    // The second connection's login outlives the first's.
    second.health_check().unwrap();
    let opened = second
        .decrypt_gcm("k", &sealed.iv, b"aad", &sealed.ciphertext, &sealed.tag)
        .unwrap();
    assert_eq!(opened.as_slice(), b"secret");
    drop(second);
    // And after the last one, a new login works from scratch.
    let third = connect("t-shared");
    assert!(third.key_info("k").unwrap().is_some());
}

#[test]
fn a_destroyed_key_is_not_found() {
    let token = connect("t-destroy");
    token.create_aes_key("k").unwrap();
    let sealed = token.encrypt_gcm("k", b"aad", b"secret").unwrap();
    assert!(token.destroy_key("k").unwrap());
    assert!(!token.destroy_key("k").unwrap());
    assert_eq!(token.key_info("k").unwrap(), None);
    assert_eq!(
        token.encrypt_gcm("k", b"aad", b"secret"),
        Err(HsmError::KeyNotFound("k".into()))
    );
    assert_eq!(
        token.decrypt_gcm("k", &sealed.iv, b"aad", &sealed.ciphertext, &sealed.tag),
        Err(HsmError::KeyNotFound("k".into()))
    );
    // The label is free again.
    token.create_aes_key("k").unwrap();
}

#[test]
fn concurrent_callers_share_the_sessions() {
    let token = connect("t-concurrent");
    token.create_aes_key("k").unwrap();
    std::thread::scope(|scope| {
        for thread in 0..(2 * MAX_SESSIONS) {
            let token = &token;
            scope.spawn(move || {
                for i in 0..25 {
                    let aad = format!("thread {thread}");
                    let plaintext = format!("message {i} of thread {thread}");
                    let sealed = token
                        .encrypt_gcm("k", aad.as_bytes(), plaintext.as_bytes())
                        .unwrap();
                    let opened = token
                        .decrypt_gcm(
                            "k",
                            &sealed.iv,
                            aad.as_bytes(),
                            &sealed.ciphertext,
                            &sealed.tag,
                        )
                        .unwrap();
                    assert_eq!(opened.as_slice(), plaintext.as_bytes());
                    assert_eq!(token.random(16).unwrap().len(), 16);
                }
            });
        }
    });
    assert!(token.lock_pool().open <= MAX_SESSIONS);
    token.health_check().unwrap();
}

#[test]
fn random_bytes_come_from_the_token() {
    let token = connect("t-random");
    let a = token.random(32).unwrap();
    let b = token.random(32).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert!(token.random(0).unwrap().is_empty());
    assert_eq!(token.random(1024).unwrap().len(), 1024);
}

#[test]
fn a_login_made_outside_hsm_token_is_user_logged_in() {
    let module = softhsm();
    let slot = module.find_token("t-outside").unwrap();
    let session = module.pkcs11().open_rw_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::new(PIN.to_string())))
        .unwrap();
    let err = HsmToken::connect(module.clone(), "t-outside", PIN).unwrap_err();
    assert_eq!(err, HsmError::UserAlreadyLoggedIn);
    assert_eq!(err.connection_error_code(), "USER_LOGGED_IN");
    session.logout().unwrap();
    drop(session);
    HsmToken::connect(module, "t-outside", PIN)
        .unwrap()
        .health_check()
        .unwrap();
}

#[test]
fn one_module_one_config() {
    let held = softhsm();
    let token = HsmToken::connect(held.clone(), "t-conf", PIN).unwrap();
    // Same context by another name of the library, and with no config asked for.
    let real = canonical(Path::new(SOFTHSM2));
    assert_ne!(
        real.as_path(),
        Path::new(SOFTHSM2),
        "Debian's path is a symlink"
    );
    assert!(Arc::ptr_eq(&module(&real, None).unwrap(), &held));
    assert!(Arc::ptr_eq(
        &module(Path::new(SOFTHSM2), None).unwrap(),
        &held
    ));
    assert_eq!(
        held.softhsm2_conf(),
        Some(canonical(&fixture().conf).as_path())
    );
    assert!(held.token_labels().unwrap().iter().any(|l| l == "t-conf"));

    let other = fixture().conf.with_file_name("other.conf");
    let err = module(Path::new(SOFTHSM2), Some(&other)).unwrap_err();
    let HsmError::Module(message) = &err else {
        panic!("{err:?}");
    };
    assert!(
        message.contains("softhsm2.conf") && message.contains("other.conf"),
        "{message}"
    );
    // Waiting gives up while the module is held.
    let err =
        module_waiting(Path::new(SOFTHSM2), Some(&other), Duration::from_millis(50)).unwrap_err();
    assert!(matches!(err, HsmError::Module(_)), "{err:?}");
    token.health_check().unwrap();

    let err = module(Path::new("/nonexistent/libpkcs11.so"), None).unwrap_err();
    assert!(matches!(err, HsmError::Module(_)), "{err:?}");
    assert_eq!(err.connection_error_code(), "INTERNAL_ERROR");
}
