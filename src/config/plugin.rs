//! The `plugins:` list of a config file (ecschedule/ecspresso compatible):
//! `tfstate` (Terraform state lookups) and `ssm` (SSM Parameter Store), each
//! with an optional `func_prefix`, and the template functions they provide.
//!
//! Anything that lives in AWS is fetched through [`RemoteSource`], which the
//! aws layer implements; this module never talks to AWS itself. Without a
//! remote source (offline `validate`), a lookup in S3 or SSM is not made: it
//! gives [`Lookup::Unchecked`] and the caller inserts [`UNCHECKED`] instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value};

use super::files;
use super::gocompat::{go_sprintf, string_arg, to_template_string};
use super::tfstate::{TfState, TfStateError, TfStateLocation};

/// Fetches things that live in AWS. Implemented by the aws module (which
/// blocks on its runtime, hence sync); tests use an in-memory fake.
pub trait RemoteSource: Send + Sync {
    /// The bytes of an S3 object. The implementation finds the bucket's
    /// region itself (a tfstate bucket often lives in another region).
    ///
    /// # Errors
    /// A one-line cause (no such bucket/key, access denied, …).
    fn s3_get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String>;
    /// An SSM parameter, decrypted (`WithDecryption=true`).
    ///
    /// # Errors
    /// A one-line cause (`ParameterNotFound`, access denied, …).
    fn ssm_get_parameter(&self, name: &str) -> Result<SsmParameter, String>;
}

/// An SSM parameter as returned by `GetParameter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmParameter {
    pub kind: SsmParameterKind,
    pub value: String,
}

/// The type of an SSM parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsmParameterKind {
    String,
    SecureString,
    StringList,
}

impl fmt::Display for SsmParameterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SsmParameterKind::String => "String",
            SsmParameterKind::SecureString => "SecureString",
            SsmParameterKind::StringList => "StringList",
        })
    }
}

/// One entry of the `plugins:` list.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// `tfstate` or `ssm`, matched case-insensitively.
    pub name: String,
    pub config: Map<String, Value>,
    /// Prepended to every function the plugin provides (`first_` gives
    /// `first_tfstate`, `first_tfstatef`).
    pub func_prefix: String,
}

impl PluginSpec {
    /// Reads one entry of the `plugins:` list; `index` is its position in
    /// the list (for messages).
    ///
    /// # Errors
    /// [`PluginError::InvalidEntry`] when the entry is not a mapping with a
    /// string `name`, a mapping `config` and a string `func_prefix`.
    pub fn from_value(value: &Value, index: usize) -> Result<PluginSpec, PluginError> {
        let invalid = |reason: &str| PluginError::InvalidEntry {
            index,
            reason: reason.to_owned(),
        };
        let Some(obj) = value.as_object() else {
            return Err(invalid(
                "expected a mapping with name, config and func_prefix",
            ));
        };
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => return Err(invalid("name is required and must be a string")),
        };
        let config = match obj.get("config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(invalid("config must be a mapping")),
        };
        let func_prefix = match obj.get("func_prefix") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("func_prefix must be a string")),
        };
        Ok(PluginSpec {
            name,
            config,
            func_prefix,
        })
    }
}

/// Why the `plugins:` list could not be loaded. `plugin_index` says which
/// entry of the list is at fault.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugins[{index}]: {reason}")]
    InvalidEntry { index: usize, reason: String },
    #[error("plugin \"{name}\" is not available (expected tfstate or ssm)")]
    NotAvailable { index: usize, name: String },
    #[error("tfstate plugin requires path or url for tfstate location")]
    MissingLocation { index: usize },
    #[error("tfstate plugin requires {key} for tfstate location as a string")]
    LocationNotAString { index: usize, key: &'static str },
    #[error("{source}")]
    TfState {
        index: usize,
        #[source]
        source: TfStateError,
    },
    #[error(
        "template function \"{function}\" already exists; set func_prefix on the {plugin} plugin"
    )]
    DuplicateFunction {
        index: usize,
        function: String,
        plugin: String,
    },
}

impl PluginError {
    /// The position in the `plugins:` list of the entry at fault.
    #[must_use]
    pub fn plugin_index(&self) -> usize {
        match self {
            PluginError::InvalidEntry { index, .. }
            | PluginError::NotAvailable { index, .. }
            | PluginError::MissingLocation { index }
            | PluginError::LocationNotAString { index, .. }
            | PluginError::TfState { index, .. }
            | PluginError::DuplicateFunction { index, .. } => *index,
        }
    }
}

/// The name of the function that calls any plugin function by name:
/// `{{ plugin "first_tfstate" "aws_x.y.id" }}` (ecschedule's way to call
/// prefixed functions).
pub const PLUGIN_CALL: &str = "plugin";

/// The template-function names a plugin kind provides (before the prefix).
const TFSTATE_FUNC: &str = "tfstate";
const TFSTATEF_FUNC: &str = "tfstatef";
const SSM_FUNC: &str = "ssm";

/// Whether `name` looks like a plugin function (`plugin`, or ends in
/// `tfstate`, `tfstatef` or `ssm`, as ecschedule's placeholders do): such
/// calls are resolved only once the `plugins:` list is loaded.
#[must_use]
pub fn is_plugin_function_name(name: &str) -> bool {
    name == PLUGIN_CALL
        || name.ends_with(TFSTATE_FUNC)
        || name.ends_with(TFSTATEF_FUNC)
        || name.ends_with(SSM_FUNC)
}

/// What an offline lookup inserts into the config in place of the value it
/// could not read (a valid name, so that most checks pass; checks on values
/// containing it are not reported, see `config::load`).
pub const UNCHECKED: &str = "unchecked-offline-by-ecsched";

/// The result of a plugin function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Value(String),
    /// Not looked up: it needs AWS access and there is no remote source. Says
    /// what was not looked up, e.g. `tfstate "aws_x.y.id": the state is in S3 (s3://b/k)`.
    Unchecked(String),
}

/// A tfstate of the `plugins:` list: read, or (offline) only located in S3.
enum State {
    Read(TfState),
    InS3(String),
}

/// Loaded plugins: tfstate states keyed by function name
/// (`<prefix>tfstate`), ssm function names, and a per-name SSM cache.
pub struct Plugins<'r> {
    tfstates: BTreeMap<String, State>,
    ssm_functions: BTreeSet<String>,
    remote: Option<&'r dyn RemoteSource>,
    ssm_cache: Mutex<HashMap<String, Result<SsmParameter, String>>>,
}

impl fmt::Debug for Plugins<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugins")
            .field("tfstates", &self.tfstates.keys().collect::<Vec<_>>())
            .field("ssm_functions", &self.ssm_functions)
            .field("remote", &self.remote.is_some())
            .finish()
    }
}

impl<'r> Plugins<'r> {
    /// Loads every plugin of the list: reads each tfstate once (local files
    /// relative to `config_dir`, else `cwd`; S3 through `remote`) and
    /// registers the function names. `ssm` is always available. Without a
    /// remote source, states in S3 are not read and lookups in them and in SSM
    /// give [`Lookup::Unchecked`].
    ///
    /// # Errors
    /// The first entry that cannot be loaded: unknown plugin name, missing
    /// or unreadable tfstate, clashing function names.
    pub fn load(
        specs: &[PluginSpec],
        config_dir: &Path,
        cwd: &Path,
        remote: Option<&'r dyn RemoteSource>,
    ) -> Result<Plugins<'r>, PluginError> {
        let mut plugins = Plugins {
            tfstates: BTreeMap::new(),
            ssm_functions: BTreeSet::new(),
            remote,
            ssm_cache: Mutex::new(HashMap::new()),
        };
        // Functions declared so far (the default `ssm` is not in here: a
        // declared plugin may replace it).
        let mut declared: BTreeSet<String> = BTreeSet::new();
        let mut claim = |index: usize, function: String, plugin: &str| {
            if declared.insert(function.clone()) {
                Ok(function)
            } else {
                Err(PluginError::DuplicateFunction {
                    index,
                    function,
                    plugin: plugin.to_owned(),
                })
            }
        };
        for (index, spec) in specs.iter().enumerate() {
            match spec.name.to_ascii_lowercase().as_str() {
                "tfstate" => {
                    let name = claim(
                        index,
                        format!("{}{TFSTATE_FUNC}", spec.func_prefix),
                        "tfstate",
                    )?;
                    claim(
                        index,
                        format!("{}{TFSTATEF_FUNC}", spec.func_prefix),
                        "tfstate",
                    )?;
                    let state = load_tfstate(index, spec, config_dir, cwd, remote)?;
                    plugins.tfstates.insert(name, state);
                }
                "ssm" => {
                    let name = claim(index, format!("{}{SSM_FUNC}", spec.func_prefix), "ssm")?;
                    plugins.ssm_functions.insert(name);
                }
                _ => {
                    return Err(PluginError::NotAvailable {
                        index,
                        name: spec.name.clone(),
                    });
                }
            }
        }
        // Like ecspresso's default plugins: `ssm` needs no declaration.
        if !declared.contains(SSM_FUNC) {
            plugins.ssm_functions.insert(SSM_FUNC.to_owned());
        }
        Ok(plugins)
    }

    /// Every function name the plugins provide, sorted (`plugin` excluded).
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tfstates
            .keys()
            .flat_map(|n| [n.clone(), format!("{n}f")])
            .chain(self.ssm_functions.iter().cloned())
            .collect();
        names.sort();
        names
    }

    /// Whether `name` is a function the plugins provide (or `plugin`).
    pub fn is_function(&self, name: &str) -> bool {
        name == PLUGIN_CALL || self.resolve(name).is_some()
    }

    /// [`Plugins::lookup`], with [`UNCHECKED`] for a lookup that needs AWS access.
    ///
    /// # Errors
    /// As [`Plugins::lookup`].
    pub fn call(&self, name: &str, args: &[Value]) -> Result<String, String> {
        self.lookup(name, args).map(|l| match l {
            Lookup::Value(v) => v,
            Lookup::Unchecked(_) => UNCHECKED.to_owned(),
        })
    }

    /// Calls a plugin function with evaluated template arguments and
    /// returns the text to insert (or, offline, what it could not look up).
    ///
    /// # Errors
    /// The message of the template error: address not found, wrong
    /// arguments, SSM failures, unknown function.
    pub fn lookup(&self, name: &str, args: &[Value]) -> Result<Lookup, String> {
        if name == PLUGIN_CALL {
            let Some((target, rest)) = args.split_first() else {
                return Err(
                    "plugin: expected the name of a plugin function, e.g. plugin \"first_tfstate\" \"ADDRESS\""
                        .to_owned(),
                );
            };
            let Some(target) = target.as_str() else {
                return Err("plugin: the function name must be a string".to_owned());
            };
            if target == PLUGIN_CALL || self.resolve(target).is_none() {
                return Err(format!(
                    "plugin: \"{target}\" is not a plugin function (available: {})",
                    self.function_names().join(", ")
                ));
            }
            return self.lookup(target, rest);
        }
        match self.resolve(name) {
            Some(Func::Tfstate(state)) => {
                let [addr] = args else {
                    return Err(format!(
                        "{name}: expected 1 argument (ADDRESS), got {}",
                        args.len()
                    ));
                };
                let addr = string_arg(name, 1, addr)?;
                lookup_tfstate(name, state, &addr)
            }
            Some(Func::Tfstatef(state)) => {
                let Some((format, rest)) = args.split_first() else {
                    return Err(format!("{name}: expected a format and its arguments"));
                };
                let format = string_arg(name, 1, format)?;
                let addr = go_sprintf(&format, rest).map_err(|e| format!("{name}: {e}"))?;
                lookup_tfstate(name, state, &addr)
            }
            Some(Func::Ssm) => self.ssm(name, args),
            None => Err(format!("function \"{name}\" is not defined")),
        }
    }

    fn resolve(&self, name: &str) -> Option<Func<'_>> {
        if let Some(state) = self.tfstates.get(name) {
            return Some(Func::Tfstate(state));
        }
        if let Some(state) = name.strip_suffix('f').and_then(|n| self.tfstates.get(n)) {
            return Some(Func::Tfstatef(state));
        }
        self.ssm_functions.contains(name).then_some(Func::Ssm)
    }

    fn ssm(&self, func: &str, args: &[Value]) -> Result<Lookup, String> {
        let (name, index) = match args {
            [name] => (string_arg(func, 1, name)?, None),
            [name, index] => (string_arg(func, 1, name)?, Some(index_arg(func, index)?)),
            _ => {
                return Err(format!(
                    "{func}: expected 1 or 2 arguments (NAME [INDEX]), got {}",
                    args.len()
                ));
            }
        };
        let Some(remote) = self.remote else {
            return Ok(Lookup::Unchecked(format!(
                "{func} \"{name}\": SSM parameters need AWS access"
            )));
        };
        let param = {
            let mut cache = self
                .ssm_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            cache
                .entry(name.clone())
                .or_insert_with(|| remote.ssm_get_parameter(&name))
                .clone()
        };
        let param = param.map_err(|e| format!("ssm parameter \"{name}\": {e}"))?;
        let value = match (param.kind, index) {
            (SsmParameterKind::String | SsmParameterKind::SecureString, None) => Ok(param.value),
            (SsmParameterKind::String | SsmParameterKind::SecureString, Some(i)) => Err(format!(
                "ssm parameter \"{name}\" is a {} and takes no index (got {i})",
                param.kind
            )),
            (SsmParameterKind::StringList, None) => Err(format!(
                "ssm parameter \"{name}\" is a StringList: pass a 0-based index, e.g. {func} \"{name}\" 0"
            )),
            (SsmParameterKind::StringList, Some(i)) => {
                let values: Vec<&str> = param.value.split(',').collect();
                values.get(i).map(|v| (*v).to_owned()).ok_or_else(|| {
                    format!(
                        "ssm parameter \"{name}\": index {i} is out of range (the StringList has {} values; indexes start at 0)",
                        values.len()
                    )
                })
            }
        };
        value.map(Lookup::Value)
    }
}

enum Func<'a> {
    Tfstate(&'a State),
    Tfstatef(&'a State),
    Ssm,
}

fn lookup_tfstate(func: &str, state: &State, addr: &str) -> Result<Lookup, String> {
    // tfstate-lookup turns single quotes into double quotes first, so that
    // `aws_x.y['k'].id` can be written inside a double-quoted argument.
    let addr = addr.replace('\'', "\"");
    match state {
        State::Read(state) => state
            .lookup(&addr)
            .map(|v| Lookup::Value(to_template_string(&v)))
            .ok_or_else(|| format!("{addr} is not found in tfstate")),
        State::InS3(location) => Ok(Lookup::Unchecked(format!(
            "{func} \"{addr}\": the state is in S3 ({location})"
        ))),
    }
}

fn load_tfstate(
    index: usize,
    spec: &PluginSpec,
    config_dir: &Path,
    cwd: &Path,
    remote: Option<&dyn RemoteSource>,
) -> Result<State, PluginError> {
    let present = |key: &str| spec.config.get(key).filter(|v| !v.is_null());
    // ecschedule: `path` wins over `url`.
    let (location, written) = if let Some(path) = present("path") {
        let path = path
            .as_str()
            .ok_or(PluginError::LocationNotAString { index, key: "path" })?;
        (TfStateLocation::from_path(path, config_dir, cwd), path)
    } else if let Some(url) = present("url") {
        let url = url
            .as_str()
            .ok_or(PluginError::LocationNotAString { index, key: "url" })?;
        let location = TfStateLocation::from_url(url, config_dir, cwd)
            .map_err(|source| PluginError::TfState { index, source })?;
        (location, url)
    } else {
        return Err(PluginError::MissingLocation { index });
    };
    let source = Source {
        // Messages show the location as the user wrote it.
        shown: written.to_owned(),
        relative: !written.contains("://") && Path::new(written).is_relative(),
        config_dir,
        cwd,
    };
    read_state(index, &location, &source, remote, true)
}

/// How a tfstate location was written, for messages.
struct Source<'a> {
    shown: String,
    relative: bool,
    config_dir: &'a Path,
    cwd: &'a Path,
}

fn read_state(
    index: usize,
    location: &TfStateLocation,
    source: &Source<'_>,
    remote: Option<&dyn RemoteSource>,
    follow_backend: bool,
) -> Result<State, PluginError> {
    let tf = |source| PluginError::TfState { index, source };
    let source_name = if follow_backend {
        source.shown.clone()
    } else {
        location.to_string()
    };
    match location {
        TfStateLocation::File(path) => {
            let bytes = files::read(path).map_err(|cause| {
                tf(
                    if cause.kind() == std::io::ErrorKind::NotFound && source.relative {
                        TfStateError::NotFound {
                            source_name: source_name.clone(),
                            looked_in: if source.config_dir == source.cwd {
                                source.config_dir.display().to_string()
                            } else {
                                format!(
                                    "{} and {}",
                                    source.config_dir.display(),
                                    source.cwd.display()
                                )
                            },
                        }
                    } else {
                        TfStateError::Read {
                            source_name: source_name.clone(),
                            cause,
                        }
                    },
                )
            })?;
            if follow_backend {
                // `.terraform/terraform.tfstate` points at the real state;
                // the workspace is in `environment` beside it.
                let workspace = path
                    .parent()
                    .map(|dir| dir.join("environment"))
                    .and_then(|p| files::read_text(&p).ok())
                    .unwrap_or_default();
                if let Some(remote_location) =
                    TfState::backend_location(&bytes, &source_name, &workspace).map_err(tf)?
                {
                    return read_state(index, &remote_location, source, remote, false);
                }
            }
            TfState::from_slice(&bytes, &source_name)
                .map(State::Read)
                .map_err(tf)
        }
        TfStateLocation::S3 { bucket, key } => {
            let Some(remote) = remote else {
                return Ok(State::InS3(location.to_string()));
            };
            let bytes = remote.s3_get_object(bucket, key).map_err(|cause| {
                tf(TfStateError::Fetch {
                    source_name: source_name.clone(),
                    cause,
                })
            })?;
            TfState::from_slice(&bytes, &source_name)
                .map(State::Read)
                .map_err(tf)
        }
    }
}

fn index_arg(func: &str, v: &Value) -> Result<usize, String> {
    let parsed = match v {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<usize>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        format!(
            "{func}: the index must be a non-negative integer, got {}",
            to_template_string(v)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// In-memory AWS: S3 objects and SSM parameters, counting SSM calls.
    #[derive(Default)]
    struct FakeRemote {
        objects: HashMap<(String, String), Vec<u8>>,
        params: HashMap<String, SsmParameter>,
        ssm_calls: AtomicUsize,
    }

    impl RemoteSource for FakeRemote {
        fn s3_get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
            self.objects
                .get(&(bucket.to_owned(), key.to_owned()))
                .cloned()
                .ok_or_else(|| format!("NoSuchKey: s3://{bucket}/{key}"))
        }
        fn ssm_get_parameter(&self, name: &str) -> Result<SsmParameter, String> {
            self.ssm_calls.fetch_add(1, Ordering::SeqCst);
            self.params
                .get(name)
                .cloned()
                .ok_or_else(|| "ParameterNotFound".to_owned())
        }
    }

    fn testdata() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
    }

    fn spec(name: &str, config: &Value, prefix: &str) -> PluginSpec {
        PluginSpec {
            name: name.to_owned(),
            config: config.as_object().cloned().unwrap_or_default(),
            func_prefix: prefix.to_owned(),
        }
    }

    fn fake_ssm() -> FakeRemote {
        let mut remote = FakeRemote::default();
        for (name, kind, value) in [
            ("/app/plain", SsmParameterKind::String, "hello"),
            ("/app/secret", SsmParameterKind::SecureString, "s3cr3t"),
            ("/app/list", SsmParameterKind::StringList, "a,b,c"),
        ] {
            remote.params.insert(
                name.to_owned(),
                SsmParameter {
                    kind,
                    value: value.to_owned(),
                },
            );
        }
        remote
    }

    #[test]
    fn tfstate_with_relative_path_and_plugin_call_form() {
        let specs = [
            spec("tfstate", &json!({"path": "tfstate/seed-prod.tfstate"}), ""),
            spec(
                "TFState",
                &json!({"url": "tfstate/seed-prod.tfstate"}),
                "second_",
            ),
        ];
        let plugins =
            Plugins::load(&specs, &testdata(), Path::new("/nonexistent"), None).expect("load");
        assert_eq!(
            plugins.function_names(),
            [
                "second_tfstate",
                "second_tfstatef",
                "ssm",
                "tfstate",
                "tfstatef"
            ]
        );
        assert_eq!(
            plugins.call(
                "tfstate",
                &[json!("module.network.aws_security_group.ecs.id")]
            ),
            Ok("sg-03d360a9d98c40504".to_owned())
        );
        assert_eq!(
            plugins.call(
                "plugin",
                &[
                    json!("second_tfstate"),
                    json!("module.network.module.vpc.aws_subnet.private[1].id")
                ]
            ),
            Ok("subnet-03f653bcc55408971".to_owned())
        );
        assert_eq!(
            plugins.call(
                "second_tfstatef",
                &[
                    json!("module.ecs.aws_cloudwatch_log_group.main['%s'].retention_in_days"),
                    json!("nginx")
                ]
            ),
            Ok("14".to_owned())
        );
        assert_eq!(
            plugins.call(
                "tfstatef",
                &[
                    json!("module.network.module.vpc.aws_subnet.private[%d].id"),
                    json!(0)
                ]
            ),
            Ok("subnet-039cb8363ae3f2b74".to_owned())
        );
        assert_eq!(
            plugins.call("tfstate", &[json!("module.x.aws_subnet.y.id")]),
            Err("module.x.aws_subnet.y.id is not found in tfstate".to_owned())
        );
        let e = plugins
            .call("plugin", &[json!("third_tfstate"), json!("x")])
            .expect_err("unknown");
        assert!(
            e.contains("\"third_tfstate\" is not a plugin function"),
            "{e}"
        );
        assert!(e.contains("second_tfstate"), "{e}");
    }

    #[test]
    fn tfstate_from_s3_through_the_remote_source() {
        let mut remote = FakeRemote::default();
        let bytes = std::fs::read(testdata().join("tfstate/seed-prod.tfstate")).expect("fixture");
        remote.objects.insert(
            (
                "t3-kato-terraform-backend-osaka".to_owned(),
                "prod/terraform.tfstate".to_owned(),
            ),
            bytes,
        );
        let specs = [spec(
            "tfstate",
            &json!({"url": "s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate"}),
            "",
        )];
        let plugins =
            Plugins::load(&specs, Path::new("."), Path::new("."), Some(&remote)).expect("load");
        assert_eq!(
            plugins.call(
                "tfstate",
                &[json!("module.network.module.vpc.aws_subnet.private[0].id")]
            ),
            Ok("subnet-039cb8363ae3f2b74".to_owned())
        );

        // Offline, the state is not read and lookups in it are not made.
        let offline = Plugins::load(&specs, Path::new("."), Path::new("."), None).expect("offline");
        assert_eq!(
            offline.lookup("tfstate", &[json!("output.x")]),
            Ok(Lookup::Unchecked(
                "tfstate \"output.x\": the state is in S3 (s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate)".to_owned()
            ))
        );
        assert_eq!(
            offline.call(
                "plugin",
                &[json!("tfstatef"), json!("output.%s"), json!("x")]
            ),
            Ok(UNCHECKED.to_owned())
        );
        let missing = [spec(
            "tfstate",
            &json!({"url": "s3://b/missing.tfstate"}),
            "",
        )];
        let e = Plugins::load(&missing, Path::new("."), Path::new("."), Some(&remote))
            .expect_err("missing");
        assert_eq!(
            e.to_string(),
            "tfstate s3://b/missing.tfstate: cannot fetch the state: NoSuchKey: s3://b/missing.tfstate"
        );
    }

    #[test]
    fn plugin_list_errors() {
        let load = |specs: &[PluginSpec]| {
            Plugins::load(specs, &testdata(), Path::new("/nonexistent"), None).expect_err("error")
        };
        let e = load(&[spec("tfstate", &json!({}), "")]);
        assert_eq!(
            e.to_string(),
            "tfstate plugin requires path or url for tfstate location"
        );
        let e = load(&[
            spec("ssm", &json!({}), ""),
            spec("cloudformation", &json!({}), ""),
        ]);
        assert_eq!(
            e.to_string(),
            "plugin \"cloudformation\" is not available (expected tfstate or ssm)"
        );
        assert_eq!(e.plugin_index(), 1);
        let path = json!({"path": "tfstate/seed-prod.tfstate"});
        let e = load(&[spec("tfstate", &path, ""), spec("tfstate", &path, "")]);
        assert_eq!(
            e.to_string(),
            "template function \"tfstate\" already exists; set func_prefix on the tfstate plugin"
        );
        let e = load(&[spec("tfstate", &json!({"path": 3}), "")]);
        assert!(e.to_string().contains("requires path"), "{e}");
        let e = load(&[spec("tfstate", &json!({"path": "nope/x.tfstate"}), "")]);
        assert_eq!(
            e.to_string(),
            format!(
                "tfstate nope/x.tfstate: no such file (looked in {} and /nonexistent)",
                testdata().display()
            )
        );
        let e = load(&[spec("tfstate", &json!({"path": "/abs/x.tfstate"}), "")]);
        let msg = e.to_string();
        assert!(
            msg.starts_with("tfstate /abs/x.tfstate: cannot read the file: "),
            "{msg}"
        );
        let e = load(&[spec("tfstate", &json!({"path": "tfstate"}), "")]);
        assert!(
            e.to_string()
                .starts_with("tfstate tfstate: cannot read the file: "),
            "{e}"
        );
        let e = load(&[spec(
            "tfstate",
            &json!({"url": "https://example.com/x"}),
            "",
        )]);
        assert!(e.to_string().contains("not supported yet"), "{e}");

        assert!(PluginSpec::from_value(&json!("tfstate"), 0).is_err());
        assert!(PluginSpec::from_value(&json!({"config": {}}), 0).is_err());
        assert_eq!(
            PluginSpec::from_value(
                &json!({"name": "tfstate", "config": {"path": "x"}, "func_prefix": "p_"}),
                0
            )
            .expect("spec"),
            spec("tfstate", &json!({"path": "x"}), "p_")
        );
    }

    #[test]
    fn ssm_index_semantics() {
        let remote = fake_ssm();
        let plugins =
            Plugins::load(&[], Path::new("."), Path::new("."), Some(&remote)).expect("load");
        assert_eq!(
            plugins.call("ssm", &[json!("/app/plain")]),
            Ok("hello".to_owned())
        );
        assert_eq!(
            plugins.call("ssm", &[json!("/app/secret")]),
            Ok("s3cr3t".to_owned())
        );
        let e = plugins
            .call("ssm", &[json!("/app/plain"), json!(0)])
            .expect_err("index");
        assert!(e.contains("is a String and takes no index"), "{e}");
        let e = plugins
            .call("ssm", &[json!("/app/secret"), json!(1)])
            .expect_err("index");
        assert!(e.contains("is a SecureString and takes no index"), "{e}");
        let e = plugins
            .call("ssm", &[json!("/app/list")])
            .expect_err("no index");
        assert!(e.contains("StringList: pass a 0-based index"), "{e}");
        assert_eq!(
            plugins.call("ssm", &[json!("/app/list"), json!(0)]),
            Ok("a".to_owned())
        );
        assert_eq!(
            plugins.call("ssm", &[json!("/app/list"), json!(2)]),
            Ok("c".to_owned())
        );
        let e = plugins
            .call("ssm", &[json!("/app/list"), json!(3)])
            .expect_err("range");
        assert!(
            e.contains("index 3 is out of range (the StringList has 3 values"),
            "{e}"
        );
        let e = plugins
            .call("ssm", &[json!("/app/list"), json!(-1)])
            .expect_err("negative");
        assert!(e.contains("non-negative integer"), "{e}");
        let e = plugins.call("ssm", &[json!("/nope")]).expect_err("missing");
        assert_eq!(e, "ssm parameter \"/nope\": ParameterNotFound");
        // One GetParameter per name.
        assert_eq!(remote.ssm_calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn ssm_with_prefix_and_without_aws() {
        let remote = fake_ssm();
        let specs = [spec("SSM", &json!({}), "aws_")];
        let plugins =
            Plugins::load(&specs, Path::new("."), Path::new("."), Some(&remote)).expect("load");
        assert_eq!(plugins.function_names(), ["aws_ssm", "ssm"]);
        assert_eq!(
            plugins.call("aws_ssm", &[json!("/app/list"), json!(1)]),
            Ok("b".to_owned())
        );
        assert_eq!(
            plugins.call("plugin", &[json!("aws_ssm"), json!("/app/plain")]),
            Ok("hello".to_owned())
        );

        let offline = Plugins::load(&[], Path::new("."), Path::new("."), None).expect("load");
        assert!(offline.is_function("ssm"));
        assert_eq!(
            offline.lookup("ssm", &[json!("/app/plain")]),
            Ok(Lookup::Unchecked(
                "ssm \"/app/plain\": SSM parameters need AWS access".to_owned()
            ))
        );
    }

    #[test]
    fn local_backend_block_is_followed_to_s3() {
        let dir = std::env::temp_dir().join(format!("ecsched-plugin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("terraform.tfstate"),
            r#"{"version": 3, "backend": {"type": "s3", "config": {"bucket": "b", "key": "k.tfstate"}}}"#,
        )
        .expect("write");
        std::fs::write(dir.join("environment"), "prod").expect("write");
        let mut remote = FakeRemote::default();
        remote.objects.insert(
            ("b".to_owned(), "env:/prod/k.tfstate".to_owned()),
            br#"{"version": 4, "outputs": {"x": {"value": "from-s3", "type": "string"}}}"#.to_vec(),
        );
        let specs = [spec("tfstate", &json!({"path": "terraform.tfstate"}), "")];
        let plugins = Plugins::load(&specs, &dir, Path::new("/nonexistent"), Some(&remote));
        std::fs::remove_dir_all(&dir).ok();
        let plugins = plugins.expect("load");
        assert_eq!(
            plugins.call("tfstate", &[json!("output.x")]),
            Ok("from-s3".to_owned())
        );
    }

    #[test]
    fn plugin_function_names() {
        assert!(is_plugin_function_name("first_tfstate"));
        assert!(is_plugin_function_name("tfstatef"));
        assert!(is_plugin_function_name("plugin"));
        assert!(!is_plugin_function_name("must_env"));
    }
}
