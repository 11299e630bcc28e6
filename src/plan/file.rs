//! Saved plan files: the binary envelope written by `plan -out FILE` and read
//! by `apply FILE` / `show FILE` (SPEC §5).
//!
//! # Format
//!
//! A plan file is a fixed 117-byte header followed by the stored payload. The
//! payload is the [`Plan`](super::Plan) serialized with bincode; with a key
//! (`ECSCHED_PLAN_KEY`) it is stored encrypted (XChaCha20-Poly1305) and the
//! file is signed (HMAC-SHA256 over the header and the stored payload). The
//! header identifies the file, its format version and payload encoding, says
//! whether the file is protected (and carries the key id and nonce), the
//! stored payload's length and SHA-256 (corruption and truncation detection),
//! and the signature (tamper evidence). Everything is checked before the
//! payload is decrypted and decoded; any mismatch refuses the whole file. Plan
//! files are written atomically with mode 0600: an unkeyed plan holds secrets
//! such as environment values in clear.
//!
//! # Wire format
//!
//! All integers are little-endian.
//!
//! ```text
//! offset 0   8 bytes  magic  b"ECSPLAN\0"
//! offset 8   u16      format version (FORMAT_VERSION = 4)
//! offset 10  u16      payload encoding id (1 = bincode 2.0.1 serde API,
//!                     config::standard(): little-endian, varint integers)
//! offset 12  u8       protection (0 = none: unsigned, plain;
//!                     1 = keyed: HMAC-SHA256 signed, XChaCha20-Poly1305 encrypted)
//! offset 13  8 bytes  key id: HKDF output identifying the key (zeros when 0)
//! offset 21  24 bytes nonce: random, fresh for every file (zeros when 0)
//! offset 45  u64      stored payload length N (at most MAX_PAYLOAD_LEN = 64 MiB)
//! offset 53  32 bytes SHA-256(stored payload)
//! offset 85  32 bytes HMAC-SHA256(mac key, bytes [0, 85) ++ stored payload)
//!                     when protection = 1; all zeros when 0
//! offset 117 N bytes  stored payload: protection 0: the bincode payload;
//!                     protection 1: XChaCha20-Poly1305(enc key, nonce,
//!                     aad = bytes [0, 45), bincode payload) = ciphertext ‖ 16-byte tag
//! ```
//!
//! Keys (protection 1): three values are derived from the raw bytes of
//! `ECSCHED_PLAN_KEY` with HKDF-SHA256 (RFC 5869; no salt, one `info` label
//! each, see [`derive_keys`]): the key id, the HMAC key and the encryption key.
//! The raw key is never used directly, so the signature and the cipher never
//! share a key. There is no per-file salt: the 24-byte random nonce already
//! makes every (key, nonce) pair unique (a collision is negligible even after
//! 2^48 files, unlike a 12-byte nonce), a salt stored in the file would add
//! nothing against guessing a weak key (the attacker reads it), and per-file
//! keys would buy nothing more. HKDF is not a password hash: the key must be a
//! high-entropy secret (e.g. `openssl rand -base64 32`), not a passphrase.
//! The key id lets a reader tell "another key" from "modified"; it reveals
//! nothing about the key beyond what the signature already does.
//!
//! The file ends exactly after the payload. [`decode`] checks, in this order:
//! magic, version, encoding, protection kind, declared length (limit,
//! truncation, trailing bytes), SHA-256 of the stored payload, then the
//! protection: for 0, the key id, nonce and signature fields must be zero;
//! for 1, the key id, then the HMAC (constant-time), then the AEAD tag while
//! decrypting. Then it decodes the payload with a 64 MiB bincode allocation
//! limit and requires it to consume the whole payload. Every byte of the
//! header is therefore validated: flipping any single byte of a file,
//! truncating it or appending to it is always refused.
//!
//! Protection rules (the key is `ECSCHED_PLAN_KEY`, read by the CLI, see [`key_from_value`]):
//!
//! | writer \ reader          | no key                          | key set                                   |
//! |--------------------------|---------------------------------|-------------------------------------------|
//! | no key: unsigned, plain  | accepted                        | refused ([`PlanFileError::Unsigned`])     |
//! | key: signed + encrypted  | refused ([`PlanFileError::NeedsKey`]) | key id, HMAC and AEAD tag verified ([`PlanFileError::WrongKey`], [`PlanFileError::BadSignature`], [`PlanFileError::BadCiphertext`]) |
//!
//! No other combination is written or read. A keyed plan read without a key
//! is refused rather than silently accepted: it cannot be decrypted anyway, and
//! its protection says the pipeline that produced it requires authenticated
//! plans, so an apply environment that lost its key must fail loudly (the
//! message says to set `ECSCHED_PLAN_KEY`). The whole payload is encrypted,
//! the plan id and the metadata `show` prints included: without the key
//! nothing but the header (and the payload's length) can be read. The SHA-256
//! alone is not tamper evidence: anyone can recompute it. Encryption does not
//! prevent replay: a plan is single-use through its fingerprints and the
//! applied-plan record, not through the file.
//!
//! # Versioning
//!
//! bincode is not self-describing: the payload bytes only make sense for the
//! exact shape of [`Plan`](super::Plan) and of every model type it contains.
//! Therefore:
//!
//! * Bump [`FORMAT_VERSION`] on ANY change to the header layout, to the
//!   protection scheme (cipher, key derivation, what is signed or used as
//!   associated data) or to the serde shape of the payload: adding, removing,
//!   reordering or renaming fields or enum variants, or changing a field's
//!   type, in `plan/mod.rs` or `model/mod.rs`. The `payload_shape_is_pinned`
//!   test fails when the shape changes, and `keyed_encoding_is_pinned` when the
//!   key derivation does, as reminders.
//! * Version history: 2 = 85-byte header, optional HMAC keyed with the raw
//!   key, payload always in clear; 3 = 117-byte header, keyed files encrypted,
//!   HKDF-derived keys, key id; 4 = the same layout, `State` gained a rule's
//!   `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
//! * Readers accept exactly one format version; there is no migration. Plan
//!   files are short-lived artefacts: re-run `ecsched plan` with the new
//!   version.
//! * A different serializer gets a new payload encoding id (never reuse an id);
//!   readers reject ids they do not know.
//! * A new protection scheme gets a new protection byte (never reuse one);
//!   readers reject kinds they do not know.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::Plan;

/// The 8 bytes every plan file starts with.
pub const MAGIC: [u8; 8] = *b"ECSPLAN\0";
/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 4;
/// Payload encoding id: bincode 2.0.1 serde API with `config::standard()`.
pub const ENCODING_BINCODE2_STANDARD: u16 = 1;
/// Protection kind: none (unsigned, payload in clear; key id, nonce and signature all zeros).
pub const PROTECTION_NONE: u8 = 0;
/// Protection kind: signed with HMAC-SHA256 over bytes [0, 85) and the stored payload,
/// payload encrypted with XChaCha20-Poly1305; keys derived with HKDF-SHA256.
pub const PROTECTION_HMAC_XCHACHA: u8 = 1;
/// Size of the fixed header; the stored payload starts here.
pub const HEADER_LEN: usize = 117;
/// Largest stored payload written or read (also bincode's decode allocation limit).
pub const MAX_PAYLOAD_LEN: usize = 64 * 1024 * 1024;
/// Environment variable holding the plan key.
pub const PLAN_KEY_ENV: &str = "ECSCHED_PLAN_KEY";

const VERSION_AT: usize = 8;
const ENCODING_AT: usize = 10;
const PROTECTION_AT: usize = 12;
const KEY_ID_AT: usize = 13;
const NONCE_AT: usize = 21;
const LENGTH_AT: usize = 45;
const HASH_AT: usize = 53;
const SIG_AT: usize = 85;

const KEY_ID_LEN: usize = NONCE_AT - KEY_ID_AT;
const NONCE_LEN: usize = LENGTH_AT - NONCE_AT;
/// Poly1305 tag appended to the ciphertext.
const TAG_LEN: usize = 16;

/// HKDF-SHA256 `info` labels, one per derived value (never reuse one for another purpose).
const INFO_KEY_ID: &[u8] = b"ecsched plan file: key id";
const INFO_MAC_KEY: &[u8] = b"ecsched plan file: HMAC-SHA256 key";
const INFO_ENC_KEY: &[u8] = b"ecsched plan file: XChaCha20-Poly1305 key";

type HmacSha256 = Hmac<Sha256>;

/// Why a plan file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("the file is not an ecsched plan file: it does not start with the plan file magic")]
    NotAPlanFile,
    #[error(
        "the plan file has format version {found}, but this ecsched reads only version \
         {supported}: re-run `ecsched plan` with this version of ecsched"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error(
        "the plan file uses payload encoding {found}, which this ecsched does not know \
         (it supports {ENCODING_BINCODE2_STANDARD} = bincode)"
    )]
    UnknownEncoding { found: u16 },
    #[error(
        "the plan file has an unknown protection kind {found} (this ecsched knows \
         {PROTECTION_NONE} = unsigned and {PROTECTION_HMAC_XCHACHA} = signed and encrypted)"
    )]
    UnknownProtection { found: u8 },
    #[error("the plan file declares a payload of {length} bytes, more than the limit of {limit}")]
    PayloadTooLarge { length: u64, limit: u64 },
    #[error("the plan file is truncated: expected {expected} bytes, found {found}")]
    Truncated { expected: u64, found: u64 },
    #[error(
        "the plan file has unexpected bytes after its payload: expected {expected} bytes, \
         found {found}"
    )]
    TrailingBytes { expected: u64, found: u64 },
    #[error("the plan file is corrupt or was modified: its SHA-256 does not match")]
    HashMismatch,
    #[error(
        "the plan file is corrupt or was modified: it is marked unsigned and unencrypted but \
         its key id, nonce or signature field is not empty"
    )]
    StrayProtectionFields,
    #[error(
        "the plan file is not signed, but {PLAN_KEY_ENV} is set: refusing an unsigned plan \
         (make it with {PLAN_KEY_ENV} set, or unset it to accept unsigned plans)"
    )]
    Unsigned,
    #[error(
        "the plan file is signed and encrypted, but {PLAN_KEY_ENV} is not set: set it to the \
         key the plan was made with to verify and decrypt it"
    )]
    NeedsKey,
    #[error(
        "the plan file was signed and encrypted with another key: {PLAN_KEY_ENV} is not the \
         key the plan was made with"
    )]
    WrongKey,
    #[error(
        "the plan file was modified after it was signed: its signature does not match, \
         although {PLAN_KEY_ENV} is the key it was made with"
    )]
    BadSignature,
    #[error(
        "the plan file's encrypted payload does not authenticate, although its signature \
         matches: it was not written by ecsched"
    )]
    BadCiphertext,
    #[error(
        "{PLAN_KEY_ENV} is set but empty (a CI secret that is missing?): set it to the plan key, \
         or unset it to work without one"
    )]
    EmptyKey,
    #[error("the plan file could not be protected: {0}")]
    Crypto(String),
    #[error("the plan could not be serialized: {0}")]
    Encode(String),
    #[error("the plan file's payload could not be decoded: {0}")]
    Decode(String),
    #[error("plan file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl PlanFileError {
    /// True when the file could not be read (or written) at all, as opposed to
    /// read and refused: an error (exit 1), not a refusal (exit 3).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, PlanFileError::Io { .. } | PlanFileError::EmptyKey)
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD_LEN>()
}

/// What `ECSCHED_PLAN_KEY` yields for one file: its id, a keyed HMAC and the cipher.
struct Keys {
    id: [u8; KEY_ID_LEN],
    mac: HmacSha256,
    cipher: XChaCha20Poly1305,
}

/// Derives the key id, the HMAC key and the encryption key from the raw plan
/// key with HKDF-SHA256 (no salt, one `info` label each; see the module doc).
fn derive_keys(key: &[u8]) -> Result<Keys, PlanFileError> {
    if key.is_empty() {
        return Err(PlanFileError::EmptyKey);
    }
    let hkdf = Hkdf::<Sha256>::new(None, key);
    let mut id = [0u8; KEY_ID_LEN];
    let mut mac_key = [0u8; 32];
    let mut enc_key = [0u8; 32];
    for (info, okm) in [
        (INFO_KEY_ID, &mut id[..]),
        (INFO_MAC_KEY, &mut mac_key[..]),
        (INFO_ENC_KEY, &mut enc_key[..]),
    ] {
        // Fails only for outputs longer than 255 hashes; these are fixed and short.
        hkdf.expand(info, okm)
            .map_err(|e| PlanFileError::Crypto(format!("HKDF-SHA256: {e}")))?;
    }
    let mac = <HmacSha256 as KeyInit>::new_from_slice(&mac_key)
        .map_err(|e| PlanFileError::Crypto(format!("HMAC-SHA256 key: {e}")))?;
    let cipher = XChaCha20Poly1305::new(&enc_key.into());
    mac_key.fill(0);
    enc_key.fill(0);
    Ok(Keys { id, mac, cipher })
}

fn le_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// Equality without an early exit (the key id is not secret, but costs nothing to compare so).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serializes `plan` into a complete plan file: unsigned and in clear without
/// a key; signed and encrypted with one (a fresh random nonce per call).
pub fn encode(plan: &Plan, key: Option<&[u8]>) -> Result<Vec<u8>, PlanFileError> {
    let key = match key {
        None => None,
        Some(key) => {
            let mut nonce = [0u8; NONCE_LEN];
            getrandom::fill(&mut nonce).map_err(|e| {
                PlanFileError::Crypto(format!("no random nonce from the operating system: {e}"))
            })?;
            Some((key, nonce))
        }
    };
    encode_with_nonce(plan, key)
}

/// [`encode`] with the nonce given (tests pin the bytes of a keyed file with it).
fn encode_with_nonce(
    plan: &Plan,
    key: Option<(&[u8], [u8; NONCE_LEN])>,
) -> Result<Vec<u8>, PlanFileError> {
    let too_large = |length: usize| PlanFileError::PayloadTooLarge {
        length: length as u64,
        limit: MAX_PAYLOAD_LEN as u64,
    };
    let payload = bincode::serde::encode_to_vec(plan, bincode_config())
        .map_err(|e| PlanFileError::Encode(e.to_string()))?;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(too_large(payload.len()));
    }
    let keys = key
        .map(|(key, nonce)| derive_keys(key).map(|keys| (keys, nonce)))
        .transpose()?;

    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&ENCODING_BINCODE2_STANDARD.to_le_bytes());
    let stored = match &keys {
        None => {
            header.push(PROTECTION_NONE);
            header.extend_from_slice(&[0u8; LENGTH_AT - KEY_ID_AT]);
            payload
        }
        Some((keys, nonce)) => {
            header.push(PROTECTION_HMAC_XCHACHA);
            header.extend_from_slice(&keys.id);
            header.extend_from_slice(nonce);
            debug_assert_eq!(header.len(), LENGTH_AT);
            let stored = keys
                .cipher
                .encrypt(
                    &XNonce::from(*nonce),
                    Payload {
                        msg: &payload,
                        aad: &header,
                    },
                )
                .map_err(|_| PlanFileError::Crypto("XChaCha20-Poly1305 encryption".into()))?;
            debug_assert_eq!(stored.len(), payload.len() + TAG_LEN);
            if stored.len() > MAX_PAYLOAD_LEN {
                return Err(too_large(stored.len()));
            }
            stored
        }
    };
    debug_assert_eq!(header.len(), LENGTH_AT);
    header.extend_from_slice(&(stored.len() as u64).to_le_bytes());
    header.extend_from_slice(Sha256::digest(&stored).as_slice());
    debug_assert_eq!(header.len(), SIG_AT);
    match keys {
        Some((keys, _)) => {
            let mut mac = keys.mac;
            Mac::update(&mut mac, &header);
            Mac::update(&mut mac, &stored);
            header.extend_from_slice(mac.finalize().into_bytes().as_slice());
        }
        None => header.extend_from_slice(&[0u8; HEADER_LEN - SIG_AT]),
    }
    debug_assert_eq!(header.len(), HEADER_LEN);
    let mut out = header;
    out.extend_from_slice(&stored);
    Ok(out)
}

/// Checks a complete plan file (see the module doc for the order of checks
/// and the protection rules), decrypts it if it is keyed, and decodes its plan.
pub fn decode(bytes: &[u8], key: Option<&[u8]>) -> Result<Plan, PlanFileError> {
    if key == Some(&[]) {
        return Err(PlanFileError::EmptyKey);
    }
    let truncated = || PlanFileError::Truncated {
        expected: HEADER_LEN as u64,
        found: bytes.len() as u64,
    };
    // Magic: a short file that is a prefix of the magic is a truncated plan file.
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            truncated()
        } else {
            PlanFileError::NotAPlanFile
        });
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(PlanFileError::NotAPlanFile);
    }
    if bytes.len() < VERSION_AT + 2 {
        return Err(truncated());
    }
    let version = le_u16(bytes, VERSION_AT);
    if version != FORMAT_VERSION {
        return Err(PlanFileError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if bytes.len() < ENCODING_AT + 2 {
        return Err(truncated());
    }
    let encoding = le_u16(bytes, ENCODING_AT);
    if encoding != ENCODING_BINCODE2_STANDARD {
        return Err(PlanFileError::UnknownEncoding { found: encoding });
    }
    if bytes.len() <= PROTECTION_AT {
        return Err(truncated());
    }
    let protection = bytes[PROTECTION_AT];
    if protection != PROTECTION_NONE && protection != PROTECTION_HMAC_XCHACHA {
        return Err(PlanFileError::UnknownProtection { found: protection });
    }
    if bytes.len() < HEADER_LEN {
        return Err(truncated());
    }
    let (header, stored) = bytes.split_at(HEADER_LEN);

    // Length: within the limit, then exactly the rest of the file.
    let mut length = [0u8; 8];
    length.copy_from_slice(&header[LENGTH_AT..HASH_AT]);
    let length = u64::from_le_bytes(length);
    if length > MAX_PAYLOAD_LEN as u64 {
        return Err(PlanFileError::PayloadTooLarge {
            length,
            limit: MAX_PAYLOAD_LEN as u64,
        });
    }
    let expected = HEADER_LEN as u64 + length;
    let found = bytes.len() as u64;
    if found < expected {
        return Err(PlanFileError::Truncated { expected, found });
    }
    if found > expected {
        return Err(PlanFileError::TrailingBytes { expected, found });
    }

    // Hash of what is stored (the ciphertext when encrypted).
    if Sha256::digest(stored).as_slice() != &header[HASH_AT..SIG_AT] {
        return Err(PlanFileError::HashMismatch);
    }

    // Protection.
    let decrypted;
    let payload: &[u8] = if protection == PROTECTION_NONE {
        if header[KEY_ID_AT..LENGTH_AT]
            .iter()
            .chain(&header[SIG_AT..HEADER_LEN])
            .any(|&b| b != 0)
        {
            return Err(PlanFileError::StrayProtectionFields);
        }
        if key.is_some() {
            return Err(PlanFileError::Unsigned);
        }
        stored
    } else {
        let Some(key) = key else {
            return Err(PlanFileError::NeedsKey);
        };
        let keys = derive_keys(key)?;
        if !same_bytes(&keys.id, &header[KEY_ID_AT..NONCE_AT]) {
            return Err(PlanFileError::WrongKey);
        }
        // The signature first, in constant time: nothing is decrypted before it matches.
        let mut mac = keys.mac;
        Mac::update(&mut mac, &header[..SIG_AT]);
        Mac::update(&mut mac, stored);
        mac.verify_slice(&header[SIG_AT..HEADER_LEN])
            .map_err(|_| PlanFileError::BadSignature)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&header[NONCE_AT..LENGTH_AT]);
        decrypted = keys
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: stored,
                    aad: &header[..LENGTH_AT],
                },
            )
            .map_err(|_| PlanFileError::BadCiphertext)?;
        &decrypted
    };

    // Payload.
    let (plan, used): (Plan, usize) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|e| PlanFileError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(PlanFileError::Decode(format!(
            "{} unused bytes after the plan",
            payload.len() - used
        )));
    }
    Ok(plan)
}

/// Encodes `plan` ([`encode`], signed and encrypted with `key`) and writes it
/// to `path` ([`write_atomic`]).
pub fn save(path: &Path, plan: &Plan, key: Option<&[u8]>) -> Result<(), PlanFileError> {
    write_atomic(path, &encode(plan, key)?)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory (mode 0600 on unix), fsync, rename over `path`, fsync of the
/// directory. On error the temporary file is removed and `path` is untouched.
///
/// Only a regular file (or nothing) at `path` is replaced: `-out /dev/full` must not
/// replace the device node, nor `-out some/dir` a directory. A symbolic link is refused
/// too, not followed: the rename would replace the link itself, and writing through it
/// instead would let a link planted in a shared directory (`/tmp/plan.bin` pointing at
/// another of the user's files) redirect the plan onto any file the user can write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlanFileError> {
    let io_err = |source: io::Error| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    fn refusal(kind: &fs::FileType) -> Option<&'static str> {
        if kind.is_file() {
            return None;
        }
        if kind.is_symlink() {
            return Some(
                "it is a symbolic link; refusing to replace it (give the path of the file itself)",
            );
        }
        if kind.is_dir() {
            return Some("it is a directory; only a regular file is replaced by a plan file");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_char_device() || kind.is_block_device() {
                return Some("it is a device; only a regular file is replaced by a plan file");
            }
            if kind.is_fifo() {
                return Some(
                    "it is a named pipe (FIFO); only a regular file is replaced by a plan file",
                );
            }
        }
        Some("it is not a regular file; only a regular file is replaced by a plan file")
    }
    match fs::symlink_metadata(path) {
        Ok(meta) => {
            if let Some(why) = refusal(&meta.file_type()) {
                return Err(io_err(io::Error::new(io::ErrorKind::InvalidInput, why)));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let file_name = path.file_name().ok_or_else(|| {
        io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };

    let (tmp_path, mut file) = create_temp(dir, file_name).map_err(io_err)?;
    let result = (|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Explicitly, in case the umask removed the owner bits.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp_path, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp_path);
        return Err(io_err(e));
    }
    sync_dir(dir);
    Ok(())
}

/// Creates a new, unique temporary file next to the target (never follows or
/// reuses an existing file).
fn create_temp(dir: &Path, file_name: &std::ffi::OsStr) -> io::Result<(PathBuf, fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last_err = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".{}.{nanos:x}.{n}.tmp", std::process::id()));
        let tmp_path = dir.join(name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp_path) {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "temporary file")))
}

/// Best effort: persists the rename (some filesystems refuse to fsync a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Reads and checks the plan file at `path` (see [`decode`]).
pub fn read(path: &Path, key: Option<&[u8]>) -> Result<Plan, PlanFileError> {
    let io_err = |source: io::Error| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    // Never read more than a valid file can hold (+1 to detect trailing bytes).
    let cap = (HEADER_LEN + MAX_PAYLOAD_LEN + 1) as u64;
    let mut bytes = Vec::new();
    file.take(cap).read_to_end(&mut bytes).map_err(io_err)?;
    decode(&bytes, key)
}

/// The signing key from the value of `ECSCHED_PLAN_KEY` (its raw bytes);
/// `None` when unset. An empty value is kept: writing or reading a plan file
/// with it is an error ([`PlanFileError::EmptyKey`]), never a quiet fallback to
/// unsigned plans.
pub fn key_from_value(value: Option<std::ffi::OsString>) -> Option<Vec<u8>> {
    value.map(|v| v.into_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Action, Fingerprint, Plan, PlanSelection, Resource, ResourceChange};
    use super::*;
    use crate::model::{
        Address, AwsVpc, CapacityProviderItem, ContainerOverride, EcsTarget, PlacementConstraint,
        PlacementStrategy, RetryPolicy, Rule, Schedule, State, Target, TaskOverrides, TypedValue,
    };

    const KEY: &[u8] = b"correct horse battery staple";

    fn ecs_target() -> EcsTarget {
        EcsTarget {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            role_arn: "arn:aws:iam::123456789012:role/ecsEventsRole".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/report:42"
                .into(),
            task_count: 2,
            launch_type: None,
            platform_version: Some("LATEST".into()),
            group: Some("reports".into()),
            capacity_provider_strategy: vec![
                CapacityProviderItem {
                    capacity_provider: "FARGATE".into(),
                    base: 1,
                    weight: 1,
                },
                CapacityProviderItem {
                    capacity_provider: "FARGATE_SPOT".into(),
                    base: 0,
                    weight: 3,
                },
            ],
            network: Some(AwsVpc {
                subnets: vec!["subnet-0a1b2c3d".into(), "subnet-4e5f6a7b".into()],
                security_groups: vec!["sg-0123456789abcdef0".into()],
                assign_public_ip: "DISABLED".into(),
            }),
            propagate_tags: Some("TASK_DEFINITION".into()),
            enable_ecs_managed_tags: true,
            enable_execute_command: false,
            placement_constraints: vec![PlacementConstraint {
                kind: "memberOf".into(),
                expression: Some("attribute:ecs.os-type == linux".into()),
            }],
            placement_strategy: vec![PlacementStrategy {
                kind: "spread".into(),
                field: Some("attribute:ecs.availability-zone".into()),
            }],
            task_tags: BTreeMap::from([("team".into(), "data".into())]),
            reference_id: Some("nightly-report".into()),
            overrides: TaskOverrides {
                extra: None,
                cpu: Some("512".into()),
                memory: Some("1024".into()),
                task_role_arn: Some("arn:aws:iam::123456789012:role/report-task".into()),
                execution_role_arn: None,
                ephemeral_storage_gib: Some(30),
                containers: vec![ContainerOverride {
                    extra: None,
                    name: "app".into(),
                    command: Some(vec!["bin/report".into(), "--since=1d".into()]),
                    environment: BTreeMap::from([
                        ("DB_PASSWORD".into(), "hunter2".into()),
                        ("MODE".into(), "nightly".into()),
                    ]),
                    environment_files: vec![TypedValue {
                        kind: "s3".into(),
                        value: "arn:aws:s3:::cfg-bucket/report.env".into(),
                    }],
                    resource_requirements: vec![],
                    cpu: Some(256),
                    memory: None,
                    memory_reservation: Some(512),
                }],
            },
        }
    }

    fn rule() -> Rule {
        Rule {
            name: "nightly-report".into(),
            event_bus: "default".into(),
            description: "Nightly report ✓".into(),
            schedule_expression: "cron(0 3 * * ? *)".into(),
            state: State::Enabled,
            role_arn: None,
            event_pattern: None,
            tags: BTreeMap::from([("env".into(), "prod".into())]),
            targets: vec![Target {
                id: "report".into(),
                ecs: ecs_target(),
                dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:dlq".into()),
                retry_policy: RetryPolicy::default(),
            }],
        }
    }

    fn schedule(expr: &str, state: State) -> Schedule {
        Schedule {
            name: "hourly-sync".into(),
            group: "jobs".into(),
            description: String::new(),
            schedule_expression: expr.into(),
            timezone: "Asia/Tokyo".into(),
            start_date: Some("2026-01-01T00:00:00Z".into()),
            end_date: None,
            state,
            flexible_window_minutes: Some(15),
            action_after_completion: "NONE".into(),
            kms_key_arn: None,
            ecs: EcsTarget {
                task_count: 1,
                launch_type: Some("FARGATE".into()),
                ..ecs_target()
            },
            dead_letter_arn: None,
            retry_policy: RetryPolicy {
                maximum_retry_attempts: 3,
                maximum_event_age_in_seconds: 3600,
            },
        }
    }

    fn plan() -> Plan {
        let created = rule();
        let before = schedule("rate(1 hour)", State::Enabled);
        let after = schedule("rate(30 minutes)", State::Disabled);
        let deleted = Address::rule("old-cleanup");
        Plan {
            plan_id: "0123456789abcdef0123456789abcdef".into(),
            tool_version: "0.1.0".into(),
            created_at: "2026-05-01T12:00:00Z".into(),
            account_id: "123456789012".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            tracking_id: "prod-scheduled-tasks".into(),
            config_path: "ecsched.yaml".into(),
            config_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                .into(),
            selection: PlanSelection {
                all: true,
                rules: vec![],
                schedules: vec![],
                prune: true,
            },
            changes: vec![
                ResourceChange {
                    address: created.address(),
                    action: Action::Create,
                    before: None,
                    after: Some(Resource::Rule(created.clone())),
                    adopts_unmanaged: false,
                    takeover_from: None,
                    tag_only: false,
                    notes: vec![],
                },
                ResourceChange {
                    address: after.address(),
                    action: Action::Update,
                    before: Some(Resource::Schedule(before.clone())),
                    after: Some(Resource::Schedule(after.clone())),
                    adopts_unmanaged: true,
                    takeover_from: None,
                    tag_only: false,
                    notes: vec!["adopts an unmanaged schedule".into()],
                },
                ResourceChange {
                    address: deleted.clone(),
                    action: Action::Delete,
                    before: Some(Resource::Rule(Rule {
                        name: "old-cleanup".into(),
                        targets: vec![],
                        ..rule()
                    })),
                    after: None,
                    adopts_unmanaged: false,
                    takeover_from: None,
                    tag_only: false,
                    notes: vec![],
                },
            ],
            fingerprints: vec![
                Fingerprint {
                    address: created.address(),
                    digest: None,
                },
                Fingerprint {
                    address: after.address(),
                    digest: Some("3b1f0c7e".repeat(8)),
                },
                Fingerprint {
                    address: deleted.clone(),
                    digest: Some("a0b1c2d3".repeat(8)),
                },
            ],
            managed_seen: vec![deleted, after.address()],
            takeover: false,
            left_alone: vec![],
            lock: None,
        }
    }

    fn encoded(key: Option<&[u8]>) -> Vec<u8> {
        encode(&plan(), key).expect("encode")
    }

    /// `strings`: the runs of at least `min` printable ASCII bytes.
    fn printable_runs(bytes: &[u8], min: usize) -> Vec<String> {
        bytes
            .split(|b| !(b.is_ascii_graphic() || *b == b' '))
            .filter(|run| run.len() >= min)
            .map(|run| String::from_utf8_lossy(run).into_owned())
            .collect()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// The plan's bincode payload, as stored in clear by an unkeyed file.
    fn bincode_payload(plan: &Plan) -> Vec<u8> {
        bincode::serde::encode_to_vec(plan, bincode::config::standard()).expect("enc")
    }

    /// `bytes` (a complete file) with its stored payload replaced by `stored` and its length
    /// and hash updated; with `sign_with`, also signed again with that key: a forgery by
    /// whoever holds the key.
    fn restored(bytes: &[u8], stored: &[u8], sign_with: Option<&[u8]>) -> Vec<u8> {
        let mut out = bytes[..HEADER_LEN].to_vec();
        out[LENGTH_AT..HASH_AT].copy_from_slice(&(stored.len() as u64).to_le_bytes());
        out[HASH_AT..SIG_AT].copy_from_slice(Sha256::digest(stored).as_slice());
        if let Some(key) = sign_with {
            let mut mac = derive_keys(key).expect("keys").mac;
            Mac::update(&mut mac, &out[..SIG_AT]);
            Mac::update(&mut mac, stored);
            out[SIG_AT..HEADER_LEN].copy_from_slice(mac.finalize().into_bytes().as_slice());
        }
        out.extend_from_slice(stored);
        out
    }

    /// `plaintext` encrypted as the keyed file `bytes` stores its payload (its nonce, its
    /// header as associated data).
    fn encrypted_as(bytes: &[u8], plaintext: &[u8], key: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[NONCE_AT..LENGTH_AT]);
        derive_keys(key)
            .expect("keys")
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &bytes[..LENGTH_AT],
                },
            )
            .expect("encrypt")
    }

    #[test]
    fn round_trip_without_key() {
        let bytes = encoded(None);
        assert_eq!(decode(&bytes, None).expect("decode"), plan());
    }

    #[test]
    fn round_trip_with_key() {
        let bytes = encoded(Some(KEY));
        assert_eq!(decode(&bytes, Some(KEY)).expect("decode"), plan());
    }

    /// The layout, the key derivation, the cipher and the signature as the module doc states
    /// them, recomputed here with the crates directly (not with `derive_keys`).
    #[test]
    fn header_layout_is_as_documented() {
        let payload = bincode_payload(&plan());
        for key in [None, Some(KEY)] {
            let bytes = encoded(key);
            let stored = &bytes[HEADER_LEN..];
            assert_eq!(HEADER_LEN, 117);
            assert_eq!(&bytes[0..8], b"ECSPLAN\0");
            assert_eq!(&bytes[8..10], &4u16.to_le_bytes());
            assert_eq!(&bytes[10..12], &1u16.to_le_bytes());
            assert_eq!(&bytes[45..53], &(stored.len() as u64).to_le_bytes());
            assert_eq!(&bytes[53..85], Sha256::digest(stored).as_slice());
            match key {
                None => {
                    assert_eq!(bytes[12], 0);
                    assert_eq!(&bytes[13..45], &[0u8; 32]);
                    assert_eq!(&bytes[85..117], &[0u8; 32]);
                    assert_eq!(stored, payload.as_slice());
                }
                Some(k) => {
                    assert_eq!(bytes[12], 1);
                    let hkdf = Hkdf::<Sha256>::new(None, k);
                    let derive = |info: &[u8]| {
                        let mut okm = [0u8; 32];
                        hkdf.expand(info, &mut okm).expect("hkdf");
                        okm
                    };
                    let id = derive(b"ecsched plan file: key id");
                    let mac_key = derive(b"ecsched plan file: HMAC-SHA256 key");
                    let enc_key = derive(b"ecsched plan file: XChaCha20-Poly1305 key");
                    // HKDF's output for a shorter length is a prefix of the longer one.
                    assert_eq!(&bytes[13..21], &id[..8]);
                    assert_ne!(&bytes[21..45], &[0u8; 24], "a nonce");
                    assert_ne!(mac_key, enc_key);

                    let mut mac = HmacSha256::new_from_slice(&mac_key).expect("key");
                    Mac::update(&mut mac, &bytes[..85]);
                    Mac::update(&mut mac, stored);
                    assert_eq!(&bytes[85..117], mac.finalize().into_bytes().as_slice());
                    // Not keyed with the raw key.
                    let mut raw = HmacSha256::new_from_slice(k).expect("key");
                    Mac::update(&mut raw, &bytes[..85]);
                    Mac::update(&mut raw, stored);
                    assert_ne!(&bytes[85..117], raw.finalize().into_bytes().as_slice());

                    assert_eq!(stored.len(), payload.len() + 16);
                    let mut nonce = [0u8; 24];
                    nonce.copy_from_slice(&bytes[21..45]);
                    let plain = XChaCha20Poly1305::new(&enc_key.into())
                        .decrypt(
                            &XNonce::from(nonce),
                            Payload {
                                msg: stored,
                                aad: &bytes[..45],
                            },
                        )
                        .expect("decrypts with the derived key and the header as AAD");
                    assert_eq!(plain, payload);
                }
            }
        }
    }

    /// Tripwire: fails when the serde shape of `Plan` (or any model type in
    /// it) changes. If so, bump FORMAT_VERSION (see "Versioning" in the module
    /// doc) and update the digest below.
    #[test]
    fn payload_shape_is_pinned() {
        let bytes = encoded(None);
        let digest: String = bytes[HASH_AT..SIG_AT]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            (FORMAT_VERSION, digest.as_str()),
            (4, PINNED_PAYLOAD_SHA256),
            "the plan payload shape changed: bump FORMAT_VERSION and update PINNED_PAYLOAD_SHA256"
        );
    }
    const PINNED_PAYLOAD_SHA256: &str =
        "e178bafdf26d53d59537b32d779a6599f76a5205546d8446055d1e2c7b546d26";

    /// Tripwire: fails when the protection of a keyed file changes (key derivation labels,
    /// cipher, associated data, what is signed) or the payload shape does. If so, bump
    /// FORMAT_VERSION and update the digest below.
    #[test]
    fn keyed_encoding_is_pinned() {
        let bytes = encode_with_nonce(&plan(), Some((KEY, [7u8; NONCE_LEN]))).expect("encode");
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            (FORMAT_VERSION, digest.as_str()),
            (4, PINNED_KEYED_FILE_SHA256),
            "the keyed plan file changed: bump FORMAT_VERSION and update PINNED_KEYED_FILE_SHA256"
        );
    }
    const PINNED_KEYED_FILE_SHA256: &str =
        "630adfcc04f8c9e4094cec2e421695cda4dc3d9b3757b49b2751c93e03e65836";

    /// A file the exhaustive tests corrupt, the key it is read with, and a label.
    type Case = (Vec<u8>, Option<&'static [u8]>, &'static str);

    fn cases() -> [Case; 3] {
        [
            (encoded(None), None, "unsigned"),
            (encoded(Some(KEY)), Some(KEY), "keyed, read with the key"),
            (encoded(Some(KEY)), None, "keyed, read without a key"),
        ]
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        for (bytes, key, label) in cases() {
            for pos in 0..bytes.len() {
                for mask in [0x01u8, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[pos] ^= mask;
                    let res = decode(&bad, key);
                    assert!(
                        res.is_err(),
                        "{label}: flipping byte {pos} with {mask:#04x} was accepted"
                    );
                    // Changes to the stored payload or its hash are caught by the hash.
                    if pos >= HEADER_LEN || (HASH_AT..SIG_AT).contains(&pos) {
                        assert!(matches!(res, Err(PlanFileError::HashMismatch)), "{res:?}");
                    }
                    if key.is_some() {
                        // The key id says "another key"; the signature covers the rest.
                        if (KEY_ID_AT..NONCE_AT).contains(&pos) {
                            assert!(matches!(res, Err(PlanFileError::WrongKey)), "{res:?}");
                        }
                        if (NONCE_AT..LENGTH_AT).contains(&pos)
                            || (SIG_AT..HEADER_LEN).contains(&pos)
                        {
                            assert!(matches!(res, Err(PlanFileError::BadSignature)), "{res:?}");
                        }
                        // Nothing unauthenticated ever reaches the cipher or the decoder.
                        assert!(
                            !matches!(
                                res,
                                Err(PlanFileError::BadCiphertext | PlanFileError::Decode(_))
                            ),
                            "{label}: byte {pos}: {res:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for (bytes, key, label) in cases() {
            for len in 0..bytes.len() {
                match decode(&bytes[..len], key) {
                    Err(PlanFileError::Truncated { expected, found }) => {
                        assert_eq!(found, len as u64);
                        assert!(expected > found);
                    }
                    other => panic!("{label}: truncation to {len} bytes: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn appended_bytes_are_refused() {
        for (bytes, key, label) in cases() {
            for extra in [&[0u8][..], b"x", &[0u8; 1000][..]] {
                let mut bad = bytes.clone();
                bad.extend_from_slice(extra);
                assert!(
                    matches!(
                        decode(&bad, key),
                        Err(PlanFileError::TrailingBytes { expected, found })
                            if expected == bytes.len() as u64 && found == bad.len() as u64
                    ),
                    "{label}: {extra:?}"
                );
            }
        }
    }

    #[test]
    fn not_a_plan_file() {
        for junk in [&b"ECSPLAX\0rest"[..], b"{\"format_version\":\"1.0\"}", b"x"] {
            assert!(matches!(
                decode(junk, None),
                Err(PlanFileError::NotAPlanFile)
            ));
        }
        // A prefix of the magic is a truncated plan file.
        assert!(matches!(
            decode(b"ECSP", None),
            Err(PlanFileError::Truncated { .. })
        ));
    }

    /// What `strings plan.bin` finds: with a key, none of the plan's text (the secret, the
    /// plan id, the account, names); without one, everything (the reason for the key).
    #[test]
    fn keyed_file_holds_no_plaintext() {
        let clear = encoded(None);
        let keyed = encode_with_nonce(&plan(), Some((KEY, [7u8; NONCE_LEN]))).expect("encode");
        let secrets: [&[u8]; 7] = [
            b"hunter2",
            b"DB_PASSWORD",
            b"0123456789abcdef0123456789abcdef",
            b"123456789012",
            b"nightly-report",
            b"us-east-1",
            b"ecsched.yaml",
        ];
        for s in secrets {
            assert!(contains(&clear, s), "test bug: {s:?} not in the plan");
            assert!(!contains(&keyed, s), "{s:?} readable in the keyed file");
        }
        let runs = printable_runs(&bincode_payload(&plan()), 6);
        assert!(runs.len() > 20, "test bug: {runs:?}");
        for run in &runs {
            assert!(
                !contains(&keyed, run.as_bytes()),
                "{run:?} in the keyed file"
            );
        }
        // The only text in the keyed file is the magic.
        assert!(printable_runs(&keyed, 4).iter().any(|r| r == "ECSPLAN"));
        assert_eq!(decode(&keyed, Some(KEY)).expect("decode"), plan());
    }

    #[test]
    fn every_keyed_file_gets_a_fresh_nonce() {
        let a = encoded(Some(KEY));
        let b = encoded(Some(KEY));
        assert_eq!(
            &a[KEY_ID_AT..NONCE_AT],
            &b[KEY_ID_AT..NONCE_AT],
            "same key id"
        );
        assert_ne!(&a[NONCE_AT..LENGTH_AT], &b[NONCE_AT..LENGTH_AT]);
        assert_ne!(&a[HEADER_LEN..], &b[HEADER_LEN..]);
        for bytes in [a, b] {
            assert_eq!(decode(&bytes, Some(KEY)).expect("decode"), plan());
        }
    }

    #[test]
    fn wrong_key_is_refused() {
        let bytes = encoded(Some(KEY));
        let err = decode(&bytes, Some(b"another key")).unwrap_err();
        assert!(matches!(err, PlanFileError::WrongKey), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the plan file was signed and encrypted with another key: ECSCHED_PLAN_KEY is not \
             the key the plan was made with"
        );
    }

    #[test]
    fn keyed_file_without_key_is_refused() {
        let bytes = encoded(Some(KEY));
        let err = decode(&bytes, None).unwrap_err();
        assert!(matches!(err, PlanFileError::NeedsKey), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the plan file is signed and encrypted, but ECSCHED_PLAN_KEY is not set: set it to \
             the key the plan was made with to verify and decrypt it"
        );
    }

    #[test]
    fn unsigned_file_with_key_is_refused() {
        let bytes = encoded(None);
        let err = decode(&bytes, Some(KEY)).unwrap_err();
        assert!(matches!(err, PlanFileError::Unsigned), "{err:?}");
        assert!(err.to_string().contains("ECSCHED_PLAN_KEY"));
    }

    #[test]
    fn stripped_protection_is_refused() {
        // Downgrade: turn a keyed file into an unprotected one (the hash still matches).
        let mut bytes = encoded(Some(KEY));
        bytes[PROTECTION_AT] = PROTECTION_NONE;
        bytes[KEY_ID_AT..LENGTH_AT].fill(0);
        bytes[SIG_AT..HEADER_LEN].fill(0);
        assert!(matches!(
            decode(&bytes, Some(KEY)),
            Err(PlanFileError::Unsigned)
        ));
        // Without a key the ciphertext is no plan.
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::Decode(_))
        ));
        // Half-stripped: marked unprotected, fields left.
        let mut bytes = encoded(Some(KEY));
        bytes[PROTECTION_AT] = PROTECTION_NONE;
        for key in [None, Some(KEY)] {
            assert!(matches!(
                decode(&bytes, key),
                Err(PlanFileError::StrayProtectionFields)
            ));
        }
    }

    /// A changed ciphertext with its hash recomputed: the signature refuses it, before
    /// anything is decrypted (were the cipher first, the error would be BadCiphertext).
    #[test]
    fn signature_is_checked_before_decrypting() {
        let bytes = encoded(Some(KEY));
        let mut stored = bytes[HEADER_LEN..].to_vec();
        stored[0] ^= 1;
        let bad = restored(&bytes, &stored, None);
        assert!(matches!(
            decode(&bad, Some(KEY)),
            Err(PlanFileError::BadSignature)
        ));
        let err = decode(&bad, Some(KEY)).unwrap_err().to_string();
        assert!(err.contains("modified after it was signed"), "{err}");

        // A forged plan encrypted with the right key and nonce, hash recomputed, unsigned
        // (only the key's holder can sign).
        let mut forged = plan();
        forged.region = "us-west-2".into();
        let stored = encrypted_as(&bytes, &bincode_payload(&forged), KEY);
        assert!(matches!(
            decode(&restored(&bytes, &stored, None), Some(KEY)),
            Err(PlanFileError::BadSignature)
        ));
        // Signed, it is a valid file: the signature is what refused it.
        assert_eq!(
            decode(&restored(&bytes, &stored, Some(KEY)), Some(KEY)).expect("decode"),
            forged
        );
    }

    /// The AEAD tag is verified too: a ciphertext changed and signed again (possible only
    /// with the key) is refused by the cipher.
    #[test]
    fn aead_tag_is_verified() {
        let bytes = encoded(Some(KEY));
        for at in [0, bytes.len() - HEADER_LEN - 1] {
            let mut stored = bytes[HEADER_LEN..].to_vec();
            stored[at] ^= 0x80;
            let bad = restored(&bytes, &stored, Some(KEY));
            assert!(matches!(
                decode(&bad, Some(KEY)),
                Err(PlanFileError::BadCiphertext)
            ));
        }
        // The same ciphertext under another nonce, signed again, does not authenticate
        // either (every other byte of the associated data is refused before the cipher).
        let mut other = bytes.clone();
        other[NONCE_AT] ^= 1;
        let bad = restored(&other, &bytes[HEADER_LEN..], Some(KEY));
        assert!(matches!(
            decode(&bad, Some(KEY)),
            Err(PlanFileError::BadCiphertext)
        ));
    }

    #[test]
    fn keyed_payload_that_is_no_plan_is_refused() {
        let bytes = encoded(Some(KEY));
        for plaintext in [&b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..], &{
            let mut p = bincode_payload(&plan());
            p.push(0);
            p
        }] {
            let stored = encrypted_as(&bytes, plaintext, KEY);
            assert!(matches!(
                decode(&restored(&bytes, &stored, Some(KEY)), Some(KEY)),
                Err(PlanFileError::Decode(_))
            ));
        }
    }

    #[test]
    fn empty_key_is_refused() {
        assert!(matches!(
            encode(&plan(), Some(b"")),
            Err(PlanFileError::EmptyKey)
        ));
        let bytes = encoded(Some(KEY));
        assert!(matches!(
            decode(&bytes, Some(b"")),
            Err(PlanFileError::EmptyKey)
        ));
    }

    #[test]
    fn unknown_version_and_encoding() {
        for old in [1u16, 2] {
            let mut bytes = encoded(None);
            bytes[VERSION_AT..VERSION_AT + 2].copy_from_slice(&old.to_le_bytes());
            let err = decode(&bytes, None).unwrap_err();
            assert!(
                matches!(
                    err,
                    PlanFileError::UnsupportedVersion {
                        found,
                        supported: FORMAT_VERSION
                    } if found == old
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains(&format!("version {old}")));
        }

        let mut bytes = encoded(None);
        bytes[ENCODING_AT..ENCODING_AT + 2].copy_from_slice(&2u16.to_le_bytes());
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::UnknownEncoding { found: 2 })
        ));
    }

    #[test]
    fn unknown_protection() {
        for key in [None, Some(KEY)] {
            let mut bytes = encoded(key);
            bytes[PROTECTION_AT] = 7;
            assert!(matches!(
                decode(&bytes, key),
                Err(PlanFileError::UnknownProtection { found: 7 })
            ));
        }
    }

    #[test]
    fn oversized_length_is_refused_without_allocating() {
        let mut bytes = encoded(None);
        bytes[LENGTH_AT..HASH_AT].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn undecodable_payload_with_valid_hash() {
        let bytes = restored(
            &encoded(None),
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            None,
        );
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::Decode(_))
        ));
    }

    #[test]
    fn payload_with_unused_bytes_is_refused() {
        let mut payload = bincode_payload(&plan());
        payload.push(0);
        let bytes = restored(&encoded(None), &payload, None);
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::Decode(_))
        ));
    }

    #[test]
    fn write_atomic_then_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prod.plan");
        let bytes = encoded(Some(KEY));
        write_atomic(&path, &bytes).expect("write");
        assert_eq!(fs::read(&path).expect("read back"), bytes);
        assert_eq!(read(&path, Some(KEY)).expect("read"), plan());
        // Only the plan file is left in the directory (no temporary files).
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("prod.plan")]);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_sets_mode_0600_and_replaces_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prod.plan");
        fs::write(&path, b"old contents that are longer than nothing").expect("write old");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");

        let bytes = encoded(None);
        write_atomic(&path, &bytes).expect("write");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).expect("read back"), bytes);
        assert_eq!(read(&path, None).expect("read"), plan());
    }

    /// What `write_atomic` refuses to replace, and that it left it as it was.
    #[cfg(unix)]
    #[test]
    fn write_atomic_replaces_only_regular_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let refused = |path: &Path| {
            let err = write_atomic(path, b"plan").expect_err("refused");
            assert!(matches!(err, PlanFileError::Io { .. }), "{err:?}");
            err.to_string()
        };
        // A directory.
        let sub = dir.path().join("plans");
        fs::create_dir(&sub).expect("mkdir");
        assert_eq!(
            refused(&sub),
            format!(
                "plan file {}: it is a directory; only a regular file is replaced by a plan file",
                sub.display()
            )
        );
        assert!(sub.is_dir());
        // A FIFO. A device node is refused the same way; it is not tried here: making one
        // needs root, and should the check regress, the test would replace a real one.
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert!(refused(&fifo).ends_with(
            ": it is a named pipe (FIFO); only a regular file is replaced by a plan file"
        ));
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(&fifo)
                .expect("stat")
                .file_type()
                .is_fifo()
        );
        // A symbolic link, to a file or dangling: neither replaced nor followed.
        let target = dir.path().join("target.plan");
        fs::write(&target, b"old").expect("write");
        for (name, to) in [
            ("link.plan", target.as_path()),
            ("dangling.plan", Path::new("nowhere")),
        ] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink(to, &link).expect("symlink");
            assert!(refused(&link).ends_with(
                ": it is a symbolic link; refusing to replace it (give the path of the file itself)"
            ));
            assert!(
                fs::symlink_metadata(&link)
                    .expect("stat")
                    .file_type()
                    .is_symlink()
            );
        }
        assert_eq!(fs::read(&target).expect("read"), b"old");
        // Nothing is left behind.
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dangling.plan", "link.plan", "pipe", "plans", "target.plan"]
                .map(std::ffi::OsString::from)
        );
    }

    #[test]
    fn write_atomic_into_missing_dir_fails_and_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("prod.plan");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(matches!(err, PlanFileError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(!path.exists());
    }

    #[test]
    fn read_missing_file_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing.plan");
        let err = read(&path, None).unwrap_err();
        match &err {
            PlanFileError::Io { path: p, source } => {
                assert_eq!(p, &path);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn read_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prod.plan");
        let mut bytes = encoded(None);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        write_atomic(&path, &bytes).expect("write");
        let err = read(&path, None).unwrap_err();
        assert!(matches!(err, PlanFileError::HashMismatch));
        assert_eq!(
            err.to_string(),
            "the plan file is corrupt or was modified: its SHA-256 does not match"
        );
    }

    #[test]
    fn plan_key_from_env_value() {
        // The variable itself is not mutated: other tests run in parallel.
        let v = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(key_from_value(v("s3cret")), Some(b"s3cret".to_vec()));
        assert_eq!(key_from_value(v("")), Some(Vec::new()));
        assert_eq!(key_from_value(None), None);
        // Set but empty (a missing CI secret): an error both ways, never unsigned plans.
        let plan = plan();
        assert!(matches!(
            encode(&plan, Some(b"")),
            Err(PlanFileError::EmptyKey)
        ));
        let bytes = encode(&plan, None).expect("encode");
        let err = decode(&bytes, Some(b"")).unwrap_err();
        assert!(matches!(err, PlanFileError::EmptyKey));
        assert!(
            err.is_unreadable(),
            "exit 1: a setting to fix, not a refused plan"
        );
    }
}
