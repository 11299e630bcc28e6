//! Everything ecsched does with a config file before it talks to AWS: find
//! it, render its templates (plugins: tfstate, ssm), parse YAML/JSON, validate
//! against the JSON Schema in `schemas/`, then semantic checks. Every problem of
//! a file is reported at once, with file:line:column. Never writes to AWS;
//! reads from AWS only through `plugin::RemoteSource` (tfstate in S3, SSM).

pub mod defaults;
pub mod error;
pub mod expr;
pub mod plugin;
pub mod raw;
pub mod schema;
pub mod template;
pub mod tfstate;
pub mod validate;
pub mod yaml;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use error::{ConfigError, Diagnostic};
use raw::RawConfig;
use yaml::{Pos, PosIndex};

/// Default config file names, in order of preference.
pub const DEFAULT_FILES: [&str; 2] = ["ecsched.yaml", "ecschedule.yaml"];

/// A loaded, fully valid config.
#[derive(Debug)]
pub struct LoadedConfig {
    pub path: PathBuf,
    /// The path as shown in messages.
    pub display: String,
    pub rendered: String,
    pub raw: RawConfig,
    pub index: PosIndex,
}

impl LoadedConfig {
    /// SHA-256 of the rendered config, hex: binds plan files to the config.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.rendered.as_bytes()))
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What `load` needs from the outside world, passed in so tests stay hermetic.
pub struct LoadRequest<'a> {
    pub path: &'a Path,
    pub cwd: &'a Path,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub remote: Option<&'a dyn plugin::RemoteSource>,
}

/// `-c FILE` if given, else the first default name that exists in `cwd`.
pub fn find_config(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    DEFAULT_FILES
        .iter()
        .map(|name| cwd.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| ConfigError::NotFound {
            candidates: DEFAULT_FILES.iter().map(ToString::to_string).collect(),
            dir: cwd.to_path_buf(),
        })
}

/// Render → parse → schema → typed → semantic validation.
pub fn load(req: &LoadRequest<'_>) -> Result<LoadedConfig, ConfigError> {
    let display = req.path.display().to_string();
    let full = if req.path.is_absolute() {
        req.path.to_path_buf()
    } else {
        req.cwd.join(req.path)
    };
    let text = std::fs::read_to_string(&full).map_err(|source| ConfigError::Read {
        path: req.path.to_path_buf(),
        source,
    })?;
    let config_dir = full
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| req.cwd.to_path_buf());
    let rendered = template::render_config(&template::RenderRequest {
        source_name: &display,
        text: &text,
        env: req.env,
        config_dir: &config_dir,
        cwd: req.cwd,
        remote: req.remote,
    })
    .map_err(|errs| ConfigError::Invalid {
        diagnostics: errs
            .into_iter()
            .map(|e| {
                let pos = e.line.map(|line| Pos {
                    line,
                    column: e.column.unwrap_or(1),
                });
                Diagnostic::new(&e.source_name, pos, e.message)
            })
            .collect(),
    })?;
    let (raw, index) = parse_rendered(&display, &rendered)?;
    let diagnostics = validate::validate(&display, &raw, &index);
    if !diagnostics.is_empty() {
        return Err(ConfigError::Invalid { diagnostics });
    }
    Ok(LoadedConfig {
        path: req.path.to_path_buf(),
        display,
        rendered,
        raw,
        index,
    })
}

/// Parses rendered text and checks it against the schema.
pub fn parse_rendered(display: &str, rendered: &str) -> Result<(RawConfig, PosIndex), ConfigError> {
    let doc = yaml::parse(rendered).map_err(|e| ConfigError::Invalid {
        diagnostics: vec![Diagnostic::new(
            display,
            e.pos,
            format!("invalid YAML: {}", e.message),
        )],
    })?;
    let value = match doc.value {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        v => v,
    };
    let diagnostics = schema::check(display, &value, &doc.index);
    if !diagnostics.is_empty() {
        return Err(ConfigError::Invalid { diagnostics });
    }
    let raw: RawConfig = serde_json::from_value(value).map_err(|e| ConfigError::Invalid {
        diagnostics: vec![Diagnostic::new(display, None, e.to_string())],
    })?;
    Ok((raw, doc.index))
}
