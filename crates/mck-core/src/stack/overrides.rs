//! `--set PATH=VALUE`: values that override the stack files, and those that keep a release
//! made from the command line in effect (`live_release_overrides`).

use super::errors::StackError;
use super::node::{self, Loc, Node};
use crate::model::{LiveRelease, ReleaseValues};

/// One `--set PATH=VALUE`: a value given on the command line that overrides the stack files
/// (`release.tag=$GIT_SHA`). It is merged over the files like one more overlay, so it is typed
/// and validated exactly like the file, and its errors are located at "command line".
///
/// `PATH` is map keys separated by dots (`apps.frontend.count`). `VALUE` takes the type the
/// schema gives that key: `release.tag=0123` is a string, `apps.frontend.count=3` a number.
/// A list or map is written in YAML flow style (`network.zones=[us-east-1a,us-east-1b]`);
/// quotes make a string of anything.
#[derive(Debug, Clone)]
pub struct Override {
    /// The argument as given.
    pub arg: String,
    pub(super) keys: Vec<node::Key>,
    pub(super) value: Node,
}

impl Override {
    /// Parses `PATH=VALUE`.
    pub fn parse(arg: &str) -> Result<Override, StackError> {
        Self::parse_from(arg, &format!("command line (--set {arg})"))
    }

    /// Parses `PATH=VALUE` that comes from `origin` (errors and locations name it).
    pub fn parse_from(arg: &str, origin: &str) -> Result<Override, StackError> {
        let file: std::sync::Arc<str> = std::sync::Arc::from(origin);
        let at = |col: usize| Loc {
            file: file.clone(),
            line: 1,
            col,
        };
        let Some((path, value)) = arg.split_once('=') else {
            return Err(StackError::one(
                Some(at(1)),
                "expected PATH=VALUE",
                Some("e.g. `--set release.tag=$GIT_SHA`".into()),
            ));
        };
        let value_col = path.len() + 2;
        let leaf = if value.starts_with('[') || value.starts_with('{') {
            let padded = format!("{}{value}", " ".repeat(value_col - 1));
            node::parse_file(&file, &padded)
                .map_err(|e| StackError::one(Some(e.loc), e.message, e.help))?
        } else {
            let quoted = value.len() >= 2
                && ((value.starts_with('"') && value.ends_with('"'))
                    || (value.starts_with('\'') && value.ends_with('\'')));
            Node {
                loc: at(value_col),
                value: if quoted {
                    node::NodeValue::Str(value[1..value.len() - 1].to_string())
                } else {
                    node::NodeValue::Plain(value.to_string())
                },
            }
        };
        let mut segments = Vec::new();
        let mut col = 1;
        for seg in path.split('.') {
            if seg.is_empty() || seg.chars().any(char::is_whitespace) {
                return Err(StackError::one(
                    Some(at(col)),
                    format!("`{path}` is not a path of stack keys"),
                    Some("write keys separated by dots, e.g. `apps.frontend.count=2`".into()),
                ));
            }
            segments.push((seg, col));
            col += seg.len() + 1;
        }
        if segments[0].0 == "extends" {
            return Err(StackError::one(
                Some(at(1)),
                "`extends` cannot be set on the command line",
                Some("choose the stack with --stack; its file names its base".into()),
            ));
        }
        Ok(Override {
            arg: arg.to_string(),
            keys: segments
                .into_iter()
                .map(|(seg, col)| node::Key {
                    name: seg.to_string(),
                    loc: at(col),
                })
                .collect(),
            value: leaf,
        })
    }
}

impl Override {
    /// The path it sets, keys joined by dots.
    pub fn path(&self) -> String {
        self.keys
            .iter()
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// What keeps a release made from the command line in effect for a run without `--set`: when
/// `overrides` set neither `release.tag` nor `release.revision` and the files still say what the
/// live release was made over (`file_release`), the live tag and revision, located at "live
/// release". Otherwise none: the command line, or an edited file (a newer decision), wins.
pub fn live_release_overrides(
    file_release: &ReleaseValues,
    overrides: &[Override],
    live: &LiveRelease,
) -> Vec<Override> {
    let set_here = overrides.iter().any(|o| {
        matches!(
            o.path().as_str(),
            "release" | "release.tag" | "release.revision"
        )
    });
    if set_here || live.file != *file_release {
        return Vec::new();
    }
    [
        ("tag", &live.in_effect.tag),
        ("revision", &live.in_effect.revision),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value.as_ref()?)))
    .filter_map(|(key, value)| {
        let arg = format!("release.{key}='{value}'");
        Override::parse_from(
            &arg,
            &format!("live release (recorded on the cluster: release.{key}={value})"),
        )
        .ok()
    })
    .collect()
}

impl std::str::FromStr for Override {
    type Err = StackError;

    fn from_str(arg: &str) -> Result<Override, StackError> {
        Override::parse(arg)
    }
}
