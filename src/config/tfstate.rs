//! Terraform state (format version 4) reading and lookup, compatible with
//! fujiwara/tfstate-lookup, which ecschedule and ecspresso use for their
//! `tfstate` template function.
//!
//! This module only parses bytes and answers lookups; fetching a state
//! (local file, S3) is the plugin module's job.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::gocompat::to_template_string;

/// The only state format version Terraform has written since 0.12.
const SUPPORTED_VERSION: u64 = 4;

/// Problems reading or locating a Terraform state. Every message names the
/// state's source (path or URL) and the cause.
#[derive(Debug, thiserror::Error)]
pub enum TfStateError {
    #[error("tfstate {source_name}: cannot read the file: {cause}")]
    Read {
        source_name: String,
        #[source]
        cause: std::io::Error,
    },
    #[error("tfstate {source_name}: no such file (looked in {looked_in})")]
    NotFound {
        source_name: String,
        looked_in: String,
    },
    #[error("tfstate {source_name}: cannot fetch the state: {cause}")]
    Fetch { source_name: String, cause: String },
    #[error("tfstate {source_name}: invalid JSON at line {line} column {column}: {message}")]
    InvalidJson {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "tfstate {source_name}: unsupported state version {version} (only version 4 is supported)"
    )]
    UnsupportedVersion {
        source_name: String,
        version: String,
    },
    #[error("tfstate {source_name}: not a Terraform state: {reason}")]
    InvalidState { source_name: String, reason: String },
    #[error(
        "tfstate {url}: URL scheme \"{scheme}\" is not supported yet (use s3://BUCKET/KEY, file:///PATH or a local path)"
    )]
    UnsupportedScheme { url: String, scheme: String },
    #[error("tfstate {url}: invalid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "tfstate {source_name}: backend type \"{kind}\" is not supported (only s3 is followed; point url at the state instead)"
    )]
    UnsupportedBackend { source_name: String, kind: String },
}

/// Where a Terraform state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TfStateLocation {
    /// A local file, already resolved to the path that will be read.
    File(PathBuf),
    /// An object in S3, fetched through the AWS layer.
    S3 { bucket: String, key: String },
}

impl TfStateLocation {
    /// A plugin `path:`. Relative paths are tried against the config file's
    /// directory first and then against the working directory (where
    /// ecschedule resolves them); when neither exists the config-relative
    /// path is returned so that the read error names it.
    #[must_use]
    pub fn from_path(path: &str, config_dir: &Path, cwd: &Path) -> TfStateLocation {
        TfStateLocation::File(resolve_local(Path::new(path), config_dir, cwd))
    }

    /// A plugin `url:`: `s3://BUCKET/KEY`, `file:///ABS/PATH` or a plain
    /// path (resolved like [`TfStateLocation::from_path`]).
    ///
    /// # Errors
    /// A malformed `s3://`/`file://` URL, or another scheme (http(s), gs,
    /// azurerm, remote: not supported yet).
    pub fn from_url(
        url: &str,
        config_dir: &Path,
        cwd: &Path,
    ) -> Result<TfStateLocation, TfStateError> {
        let Some((scheme, rest)) = split_scheme(url) else {
            return Ok(TfStateLocation::from_path(url, config_dir, cwd));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "s3" => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                let key = key.trim_start_matches('/');
                if bucket.is_empty() || key.is_empty() {
                    return Err(TfStateError::InvalidUrl {
                        url: url.to_owned(),
                        reason: "expected s3://BUCKET/KEY".to_owned(),
                    });
                }
                Ok(TfStateLocation::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                })
            }
            "file" => {
                let path = rest.strip_prefix("localhost").unwrap_or(rest);
                if path.is_empty() {
                    return Err(TfStateError::InvalidUrl {
                        url: url.to_owned(),
                        reason: "expected file:///PATH".to_owned(),
                    });
                }
                Ok(TfStateLocation::from_path(path, config_dir, cwd))
            }
            _ => Err(TfStateError::UnsupportedScheme {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            }),
        }
    }
}

impl fmt::Display for TfStateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TfStateLocation::File(path) => write!(f, "{}", path.display()),
            TfStateLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// `scheme://rest` → `(scheme, rest)`; `None` for a plain path.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then_some((scheme, rest))
}

fn resolve_local(path: &Path, config_dir: &Path, cwd: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let beside_config = config_dir.join(path);
    if beside_config.exists() {
        return beside_config;
    }
    let in_cwd = cwd.join(path);
    if in_cwd.exists() {
        return in_cwd;
    }
    beside_config
}

/// One segment of a lookup address or of a scanned key.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    /// `.name` (a resource type/name, module name, attribute, output name).
    Name(String),
    /// `[N]` (a count index; negative counts from the end in attribute paths).
    Index(i64),
    /// `["key"]` / `['key']` (a `for_each` key or an attribute key).
    Key(String),
}

#[derive(Debug, Clone)]
struct Entry {
    key: Vec<Seg>,
    value: Value,
}

/// A parsed Terraform state (format version 4), ready for lookups.
#[derive(Debug, Clone)]
pub struct TfState {
    source_name: String,
    entries: Vec<Entry>,
}

impl TfState {
    /// Parses the bytes of a state file. `source` is how the state is named
    /// in messages (a path or URL).
    ///
    /// # Errors
    /// Invalid JSON, a version other than 4, or not a state at all.
    pub fn from_slice(bytes: &[u8], source: &str) -> Result<TfState, TfStateError> {
        let doc = parse_json(bytes, source)?;
        let Some(obj) = doc.as_object() else {
            return Err(TfStateError::InvalidState {
                source_name: source.to_owned(),
                reason: "the top level is not a JSON object".to_owned(),
            });
        };
        match obj.get("version") {
            Some(Value::Number(n)) if n.as_u64() == Some(SUPPORTED_VERSION) => {}
            Some(v) => {
                return Err(TfStateError::UnsupportedVersion {
                    source_name: source.to_owned(),
                    version: to_template_string(v),
                });
            }
            None => {
                return Err(TfStateError::UnsupportedVersion {
                    source_name: source.to_owned(),
                    version: "(missing)".to_owned(),
                });
            }
        }
        let mut state = TfState {
            source_name: source.to_owned(),
            entries: Vec::new(),
        };
        if let Some(outputs) = obj.get("outputs").and_then(Value::as_object) {
            for (name, output) in outputs {
                state.entries.push(Entry {
                    key: vec![Seg::Name("output".to_owned()), Seg::Name(name.clone())],
                    value: unwrap_typed_value(output),
                });
            }
        }
        match obj.get("resources") {
            None | Some(Value::Null) => {}
            Some(Value::Array(resources)) => {
                for resource in resources {
                    state.scan_resource(resource);
                }
            }
            Some(_) => {
                return Err(TfStateError::InvalidState {
                    source_name: source.to_owned(),
                    reason: "\"resources\" is not a list".to_owned(),
                });
            }
        }
        Ok(state)
    }

    /// For a local file written by `terraform init` (`.terraform/terraform.tfstate`,
    /// which has a `backend` block instead of resources): the remote state it
    /// points to. `Ok(None)` when the bytes have no backend block.
    /// `workspace` is the Terraform workspace (`default` when empty).
    ///
    /// # Errors
    /// Invalid JSON, a backend other than s3, or an s3 backend without
    /// bucket/key.
    pub fn backend_location(
        bytes: &[u8],
        source: &str,
        workspace: &str,
    ) -> Result<Option<TfStateLocation>, TfStateError> {
        let doc = parse_json(bytes, source)?;
        let Some(backend) = doc.get("backend").and_then(Value::as_object) else {
            return Ok(None);
        };
        let kind = backend.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "s3" {
            return Err(TfStateError::UnsupportedBackend {
                source_name: source.to_owned(),
                kind: kind.to_owned(),
            });
        }
        let config = backend.get("config").and_then(Value::as_object);
        let get = |name: &str| {
            config
                .and_then(|c| c.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(bucket), Some(key)) = (get("bucket"), get("key")) else {
            return Err(TfStateError::InvalidState {
                source_name: source.to_owned(),
                reason: "the s3 backend block has no bucket or key".to_owned(),
            });
        };
        let workspace = workspace.trim();
        let key = if workspace.is_empty() || workspace == "default" {
            key.to_owned()
        } else {
            let prefix = get("workspace_key_prefix").unwrap_or("env:");
            format!("{prefix}/{workspace}/{key}")
        };
        Ok(Some(TfStateLocation::S3 {
            bucket: bucket.to_owned(),
            key,
        }))
    }

    /// The name of the source this state was read from.
    #[must_use]
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Looks up an address with tfstate-lookup's syntax:
    ///
    /// - `TYPE.NAME`, `data.TYPE.NAME`, module prefixes
    ///   (`module.a.module.b.TYPE.NAME`), `[0]` count indexes, `["key"]` /
    ///   `['key']` `for_each` keys;
    /// - `output.NAME` (value unwrapped) and
    ///   `data.terraform_remote_state.X.outputs.Y`;
    /// - attribute paths after the resource: `.attr`, `.a.b`, `[N]` (negative
    ///   counts from the end), `["k"]`, names containing `-`;
    /// - a `count/for_each` resource without an index is the list (ordered by
    ///   index) or the map (by key) of its instances.
    ///
    /// The longest scanned key that is a prefix of the address wins; the rest
    /// of the address must start with `.` or `[`. Returns `None` when nothing
    /// is found or the value is `null`.
    #[must_use]
    pub fn lookup(&self, address: &str) -> Option<Value> {
        let segs = parse_address(address)?;
        let entry = self
            .entries
            .iter()
            .filter(|e| e.key.len() <= segs.len() && segs[..e.key.len()] == e.key[..])
            .max_by_key(|e| e.key.len())?;
        let mut current = &entry.value;
        for seg in &segs[entry.key.len()..] {
            current = match (seg, current) {
                (Seg::Name(k) | Seg::Key(k), Value::Object(map)) => map.get(k)?,
                (Seg::Index(i), Value::Array(items)) => {
                    let len = i64::try_from(items.len()).ok()?;
                    let idx = if *i < 0 { len + i } else { *i };
                    items.get(usize::try_from(idx).ok()?)?
                }
                _ => return None,
            };
        }
        (!current.is_null()).then(|| current.clone())
    }

    fn scan_resource(&mut self, resource: &Value) {
        let Some(r) = resource.as_object() else {
            return;
        };
        let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        let (mode, kind, name) = (text("mode"), text("type"), text("name"));
        if kind.is_empty() || name.is_empty() || !matches!(mode, "managed" | "data") {
            return;
        }
        let mut prefix = match text("module") {
            "" => Vec::new(),
            module => match parse_address(module) {
                Some(segs) => segs,
                None => return,
            },
        };
        if mode == "data" {
            prefix.push(Seg::Name("data".to_owned()));
        }
        prefix.push(Seg::Name(kind.to_owned()));
        prefix.push(Seg::Name(name.to_owned()));

        let instances: &[Value] = r
            .get("instances")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);

        if mode == "data" && kind == "terraform_remote_state" {
            if let Some(attrs) = instances
                .first()
                .and_then(instance_attributes)
                .and_then(Value::as_object)
            {
                let unwrapped: Map<String, Value> = attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), unwrap_typed_value(v)))
                    .collect();
                self.entries.push(Entry {
                    key: prefix,
                    value: Value::Object(unwrapped),
                });
            }
            return;
        }

        let mut by_index: Vec<(i64, Value)> = Vec::new();
        let mut by_key: Map<String, Value> = Map::new();
        for instance in instances {
            let attrs = instance_attributes(instance)
                .cloned()
                .unwrap_or(Value::Null);
            let index_seg = match instance.get("index_key") {
                None | Some(Value::Null) => None,
                Some(Value::String(k)) => Some(Seg::Key(k.clone())),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .or_else(|| {
                        // An integral float index (never written by Terraform).
                        #[allow(clippy::cast_possible_truncation)]
                        n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)
                    })
                    .map(Seg::Index),
                Some(_) => continue,
            };
            match index_seg {
                None => self.entries.push(Entry {
                    key: prefix.clone(),
                    value: attrs,
                }),
                Some(seg) => {
                    match &seg {
                        Seg::Index(i) => by_index.push((*i, attrs.clone())),
                        Seg::Key(k) | Seg::Name(k) => {
                            by_key.insert(k.clone(), attrs.clone());
                        }
                    }
                    let mut key = prefix.clone();
                    key.push(seg);
                    self.entries.push(Entry { key, value: attrs });
                }
            }
        }
        // The parent key of a count / for_each resource: all its instances.
        if !by_key.is_empty() {
            for (i, v) in by_index {
                by_key.insert(i.to_string(), v);
            }
            self.entries.push(Entry {
                key: prefix,
                value: Value::Object(by_key),
            });
        } else if !by_index.is_empty() {
            by_index.sort_by_key(|(i, _)| *i);
            self.entries.push(Entry {
                key: prefix,
                value: Value::Array(by_index.into_iter().map(|(_, v)| v).collect()),
            });
        }
    }
}

fn parse_json(bytes: &[u8], source: &str) -> Result<Value, TfStateError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        TfStateError::InvalidJson {
            source_name: source.to_owned(),
            line: e.line(),
            column: e.column(),
            message,
        }
    })
}

fn instance_attributes(instance: &Value) -> Option<&Value> {
    instance
        .get("attributes")
        .filter(|v| !v.is_null())
        .or_else(|| instance.get("attributes_flat").filter(|v| !v.is_null()))
}

/// Outputs (and `terraform_remote_state` attributes) are stored as
/// `{"value": …, "type": …}`; lookups see the value.
fn unwrap_typed_value(v: &Value) -> Value {
    match v.as_object() {
        Some(obj) if obj.contains_key("value") && obj.contains_key("type") => {
            obj.get("value").cloned().unwrap_or(Value::Null)
        }
        _ => v.clone(),
    }
}

/// Splits an address into segments: names separated by `.`, and bracketed
/// `[N]`, `["key"]` or `['key']`. `None` when the address is malformed.
fn parse_address(address: &str) -> Option<Vec<Seg>> {
    let chars: Vec<char> = address.chars().collect();
    let mut segs = Vec::new();
    let mut i = 0;
    let mut expect_name = true;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let (seg, next) = parse_bracket(&chars, i + 1)?;
                segs.push(seg);
                i = next;
                expect_name = false;
            }
            '.' if !expect_name => {
                i += 1;
                expect_name = true;
                if i >= chars.len() {
                    return None;
                }
            }
            _ if expect_name => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], '.' | '[' | ']') {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                segs.push(Seg::Name(chars[start..i].iter().collect()));
                expect_name = false;
            }
            _ => return None,
        }
    }
    (!segs.is_empty()).then_some(segs)
}

/// Parses after `[` up to and including `]`; returns the segment and the
/// index after `]`.
fn parse_bracket(chars: &[char], start: usize) -> Option<(Seg, usize)> {
    let quote = *chars.get(start)?;
    if quote == '"' || quote == '\'' {
        let mut i = start + 1;
        let mut raw = String::new();
        loop {
            let c = *chars.get(i)?;
            if c == '\\' {
                let next = *chars.get(i + 1)?;
                raw.push(c);
                raw.push(next);
                i += 2;
                continue;
            }
            if c == quote {
                break;
            }
            raw.push(c);
            i += 1;
        }
        if chars.get(i + 1) != Some(&']') {
            return None;
        }
        let text = if quote == '"' {
            serde_json::from_str::<String>(&format!("\"{raw}\"")).ok()?
        } else {
            let json = raw.replace("\\'", "'").replace('"', "\\\"");
            serde_json::from_str::<String>(&format!("\"{json}\"")).ok()?
        };
        Some((Seg::Key(text), i + 2))
    } else {
        let mut i = start;
        let mut raw = String::new();
        while let Some(&c) = chars.get(i) {
            if c == ']' {
                break;
            }
            raw.push(c);
            i += 1;
        }
        if chars.get(i) != Some(&']') {
            return None;
        }
        let n = raw.trim().parse::<i64>().ok()?;
        Some((Seg::Index(n), i + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tfstate/seed-prod.tfstate")
    }

    fn seed() -> TfState {
        let bytes = std::fs::read(seed_path()).expect("read fixture");
        TfState::from_slice(&bytes, "testdata/tfstate/seed-prod.tfstate").expect("parse fixture")
    }

    fn s(state: &TfState, addr: &str) -> Option<String> {
        state.lookup(addr).map(|v| to_template_string(&v))
    }

    #[test]
    fn module_count_instances_and_attributes() {
        let st = seed();
        assert_eq!(
            s(&st, "module.network.module.vpc.aws_subnet.private[0].id").as_deref(),
            Some("subnet-039cb8363ae3f2b74")
        );
        assert_eq!(
            s(&st, "module.network.module.vpc.aws_subnet.private[1].id").as_deref(),
            Some("subnet-03f653bcc55408971")
        );
        assert_eq!(
            s(&st, "module.network.aws_security_group.ecs.id").as_deref(),
            Some("sg-03d360a9d98c40504")
        );
        assert_eq!(
            s(
                &st,
                "module.network.module.vpc.aws_subnet.private[1].cidr_block"
            )
            .as_deref(),
            Some("10.0.11.0/24")
        );
        assert_eq!(
            s(&st, "module.network.module.vpc.aws_subnet.private[2].id"),
            None
        );
    }

    #[test]
    fn parent_key_of_count_is_a_list_ordered_by_index() {
        let st = seed();
        let list = st
            .lookup("module.network.module.vpc.aws_subnet.private")
            .expect("list");
        let ids: Vec<&str> = list
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|v| v.get("id").and_then(Value::as_str))
            .collect();
        assert_eq!(
            ids,
            ["subnet-039cb8363ae3f2b74", "subnet-03f653bcc55408971"]
        );
        // An attribute path through the parent list works too.
        assert_eq!(
            s(&st, "module.network.module.vpc.aws_subnet.private[-1].id").as_deref(),
            Some("subnet-03f653bcc55408971")
        );
    }

    #[test]
    fn parent_key_of_for_each_is_a_map() {
        let st = seed();
        let map = st
            .lookup("module.ecs.aws_cloudwatch_log_group.main")
            .expect("map");
        let keys: Vec<&String> = map.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["app", "nginx"]);
        assert_eq!(
            s(
                &st,
                "module.ecs.aws_cloudwatch_log_group.main.nginx.retention_in_days"
            )
            .as_deref(),
            Some("14")
        );
    }

    #[test]
    fn for_each_keys_with_double_and_single_quotes() {
        let st = seed();
        assert_eq!(
            s(
                &st,
                "module.ecs.aws_cloudwatch_log_group.main[\"app\"].retention_in_days"
            )
            .as_deref(),
            Some("30")
        );
        assert_eq!(
            s(&st, "module.ecs.aws_cloudwatch_log_group.main['app'].name").as_deref(),
            Some("/ecs/t3-kato-prod/app")
        );
        assert_eq!(
            s(&st, "aws_ecr_repository.app[\"batch.worker\"].name").as_deref(),
            Some("t3-kato/batch.worker")
        );
        assert_eq!(
            s(&st, "aws_ecr_repository.app['nginx'].repository_url").as_deref(),
            Some("957735096129.dkr.ecr.ap-northeast-3.amazonaws.com/t3-kato/nginx")
        );
        assert_eq!(s(&st, "aws_ecr_repository.app[\"missing\"].name"), None);
    }

    #[test]
    fn outputs_are_unwrapped() {
        let st = seed();
        assert_eq!(
            s(&st, "output.vpc_id").as_deref(),
            Some("vpc-0e6a4c1f2b3d4e5f6")
        );
        assert_eq!(
            s(&st, "output.private_subnet_ids").as_deref(),
            Some(r#"["subnet-039cb8363ae3f2b74","subnet-03f653bcc55408971"]"#)
        );
        assert_eq!(
            s(&st, "output.private_subnet_ids[1]").as_deref(),
            Some("subnet-03f653bcc55408971")
        );
        assert_eq!(s(&st, "output.log_retention_days").as_deref(), Some("30"));
        assert_eq!(s(&st, "output.dash-tuple[-1]").as_deref(), Some("last"));
        assert_eq!(
            s(&st, "output.alb-dns-name").as_deref(),
            Some("t3-kato-prod-alb-1234567890.ap-northeast-3.elb.amazonaws.com")
        );
        assert_eq!(s(&st, "output.nope"), None);
    }

    #[test]
    fn data_sources_and_remote_state() {
        let st = seed();
        assert_eq!(
            s(&st, "data.aws_caller_identity.current.account_id").as_deref(),
            Some("957735096129")
        );
        assert_eq!(
            s(&st, "data.aws_availability_zones.available.names[0]").as_deref(),
            Some("ap-northeast-3a")
        );
        assert_eq!(
            s(&st, "data.aws_availability_zones.available.names").as_deref(),
            Some(r#"["ap-northeast-3a","ap-northeast-3b","ap-northeast-3c"]"#)
        );
        assert_eq!(
            s(
                &st,
                "data.terraform_remote_state.shared.outputs.kms_key_arn"
            )
            .as_deref(),
            Some(
                "arn:aws:kms:ap-northeast-3:957735096129:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
            )
        );
        assert_eq!(
            s(
                &st,
                "data.terraform_remote_state.shared.outputs.repository-uri"
            )
            .as_deref(),
            Some("957735096129.dkr.ecr.ap-northeast-3.amazonaws.com/t3-kato/nginx")
        );
        assert_eq!(
            s(&st, "data.terraform_remote_state.shared.config.bucket").as_deref(),
            Some("t3-kato-terraform-backend-osaka")
        );
    }

    #[test]
    fn attribute_paths() {
        let st = seed();
        assert_eq!(
            s(&st, "module.network.aws_security_group.ecs.tags.Name").as_deref(),
            Some("t3-kato-prod-ecs")
        );
        assert_eq!(
            s(
                &st,
                "module.network.aws_security_group.ecs.tags[\"kubernetes.io/role\"]"
            )
            .as_deref(),
            Some("none")
        );
        assert_eq!(
            s(
                &st,
                "module.network.aws_security_group.ecs.ingress[0].from_port"
            )
            .as_deref(),
            Some("80")
        );
        assert_eq!(
            s(
                &st,
                "module.network.aws_security_group.ecs.ingress[0].security_groups[0]"
            )
            .as_deref(),
            Some("sg-0a9b8c7d6e5f40312")
        );
        assert_eq!(
            s(&st, "module.ecs.aws_ecs_cluster.this.setting[0]").as_deref(),
            Some(r#"{"name":"containerInsights","value":"disabled"}"#)
        );
        assert_eq!(
            s(&st, "module.ecs.aws_ecs_task_definition.this.revision").as_deref(),
            Some("3")
        );
        assert_eq!(
            s(
                &st,
                "module.network.module.vpc.aws_vpc.this.enable_dns_support"
            )
            .as_deref(),
            Some("true")
        );
        // null attributes count as not found, as in tfstate-lookup.
        assert_eq!(s(&st, "data.aws_availability_zones.available.filter"), None);
        // Indexing a string or a missing attribute is not found.
        assert_eq!(s(&st, "module.network.aws_security_group.ecs.id.x"), None);
        assert_eq!(s(&st, "module.network.aws_security_group.ecs.nope"), None);
    }

    #[test]
    fn whole_resource_object() {
        let st = seed();
        let sg = st
            .lookup("module.network.aws_security_group.ecs")
            .expect("sg");
        assert_eq!(sg.get("name"), Some(&json!("t3-kato-prod-ecs")));
        let text = s(&st, "module.ecs.aws_ecs_cluster.this").expect("cluster");
        // Go's encoding/json sorts map keys.
        assert!(text.starts_with(r#"{"arn":"arn:aws:ecs:"#), "{text}");
    }

    #[test]
    fn longest_prefix_requires_a_separator() {
        let st = seed();
        assert_eq!(s(&st, "module.network.aws_security_group.ecsx.id"), None);
        assert_eq!(s(&st, "module.network.aws_security_group.ec"), None);
        assert_eq!(s(&st, "module.network.aws_security_group"), None);
        assert_eq!(s(&st, "aws_subnet.private[0].id"), None);
        assert_eq!(s(&st, ""), None);
        assert_eq!(s(&st, "module..x"), None);
        assert_eq!(s(&st, "aws_ecr_repository.app[nginx]"), None);
        assert_eq!(s(&st, "aws_ecr_repository.app[\"nginx\"x]"), None);
    }

    #[test]
    fn module_with_index_keys() {
        let state = json!({
            "version": 4,
            "resources": [
                {"module": "module.svc[\"api\"]", "mode": "managed", "type": "aws_x", "name": "y",
                 "instances": [{"attributes": {"id": "api-x"}}]},
                {"module": "module.svc[1].module.inner", "mode": "managed", "type": "aws_x", "name": "y",
                 "instances": [{"attributes": {"id": "one-x"}}]},
                {"mode": "managed", "type": "aws_old", "name": "z",
                 "instances": [{"index_key": 0, "attributes": {"id": "a"}}, {"index_key": 1, "attributes_flat": {"id": "b"}}]}
            ]
        });
        let st = TfState::from_slice(state.to_string().as_bytes(), "t").expect("state");
        assert_eq!(
            s(&st, "module.svc[\"api\"].aws_x.y.id").as_deref(),
            Some("api-x")
        );
        assert_eq!(
            s(&st, "module.svc['api'].aws_x.y.id").as_deref(),
            Some("api-x")
        );
        assert_eq!(
            s(&st, "module.svc[1].module.inner.aws_x.y.id").as_deref(),
            Some("one-x")
        );
        assert_eq!(s(&st, "aws_old.z[1].id").as_deref(), Some("b"));
        assert_eq!(
            s(&st, "aws_old.z").as_deref(),
            Some(r#"[{"id":"a"},{"id":"b"}]"#)
        );
    }

    #[test]
    fn errors_name_the_source_and_cause() {
        let e = TfState::from_slice(br#"{"version": 3, "resources": []}"#, "testdata/x.tfstate")
            .expect_err("v3");
        assert_eq!(
            e.to_string(),
            "tfstate testdata/x.tfstate: unsupported state version 3 (only version 4 is supported)"
        );
        let e = TfState::from_slice(b"{\n  \"version\": 4,\n    oops\n}", "testdata/x.tfstate")
            .expect_err("bad json");
        let msg = e.to_string();
        assert!(
            msg.starts_with("tfstate testdata/x.tfstate: invalid JSON at line 3 column 5: "),
            "{msg}"
        );
        assert!(!msg.ends_with("column 5"), "{msg}");
        let e = TfState::from_slice(b"[]", "x").expect_err("not object");
        assert!(e.to_string().contains("not a Terraform state"), "{e}");
        let e = TfState::from_slice(br#"{"version": 4, "resources": {}}"#, "x").expect_err("bad");
        assert!(e.to_string().contains("\"resources\" is not a list"), "{e}");
    }

    #[test]
    fn locations() {
        let dir = seed_path();
        let fixtures = dir.parent().expect("dir");
        let cwd = fixtures.parent().expect("testdata");
        // Relative to the config dir when the file is there.
        assert_eq!(
            TfStateLocation::from_path("seed-prod.tfstate", fixtures, Path::new("/nonexistent")),
            TfStateLocation::File(fixtures.join("seed-prod.tfstate"))
        );
        // Falls back to the working directory.
        assert_eq!(
            TfStateLocation::from_path("tfstate/seed-prod.tfstate", Path::new("/nonexistent"), cwd),
            TfStateLocation::File(cwd.join("tfstate/seed-prod.tfstate"))
        );
        // Neither: the config-relative path, so the read error names it.
        assert_eq!(
            TfStateLocation::from_path("x.tfstate", Path::new("/cfg"), Path::new("/cwd")),
            TfStateLocation::File(PathBuf::from("/cfg/x.tfstate"))
        );
        let loc = |u: &str| TfStateLocation::from_url(u, Path::new("/cfg"), Path::new("/cwd"));
        assert_eq!(
            loc("s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate").expect("s3"),
            TfStateLocation::S3 {
                bucket: "t3-kato-terraform-backend-osaka".into(),
                key: "prod/terraform.tfstate".into()
            }
        );
        assert_eq!(
            loc("file:///abs/terraform.tfstate").expect("file"),
            TfStateLocation::File(PathBuf::from("/abs/terraform.tfstate"))
        );
        assert_eq!(
            loc("terraform.tfstate").expect("plain"),
            TfStateLocation::File(PathBuf::from("/cfg/terraform.tfstate"))
        );
        for url in [
            "https://example.com/x.tfstate",
            "gs://b/k",
            "azurerm://rg/acct/c/blob",
            "remote://app.terraform.io/org/ws",
        ] {
            let e = loc(url).expect_err(url);
            assert!(e.to_string().contains("is not supported yet"), "{e}");
        }
        assert!(loc("s3://bucket-only").is_err());
        assert_eq!(
            TfStateLocation::S3 {
                bucket: "b".into(),
                key: "k/x".into()
            }
            .to_string(),
            "s3://b/k/x"
        );
    }

    #[test]
    fn backend_blocks() {
        let local = br#"{"version": 3, "backend": {"type": "s3", "config": {"bucket": "b", "key": "prod/terraform.tfstate", "region": "us-west-2"}}}"#;
        assert_eq!(
            TfState::backend_location(local, "x", "").expect("ok"),
            Some(TfStateLocation::S3 {
                bucket: "b".into(),
                key: "prod/terraform.tfstate".into()
            })
        );
        assert_eq!(
            TfState::backend_location(local, "x", "staging\n").expect("ok"),
            Some(TfStateLocation::S3 {
                bucket: "b".into(),
                key: "env:/staging/prod/terraform.tfstate".into()
            })
        );
        let gcs = br#"{"version": 3, "backend": {"type": "gcs", "config": {}}}"#;
        assert!(TfState::backend_location(gcs, "x", "").is_err());
        assert_eq!(
            TfState::backend_location(br#"{"version": 4}"#, "x", "").expect("ok"),
            None
        );
    }
}
