//! The errors of loading a stack: one [`Diagnostic`] per problem (where, what, how to fix it),
//! all of them together in a [`StackError`], and their rendering as `file:line:column: …`.

use std::fmt;

use super::node::{Loc, Node};

/// One problem in a stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where, when known.
    pub loc: Option<Loc>,
    /// What went wrong, in words.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// All problems found while loading a stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct StackError {
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, diag) in self.diagnostics.iter().enumerate() {
            if idx > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diag}")?;
        }
        Ok(())
    }
}

impl StackError {
    pub(super) fn one(
        loc: Option<Loc>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> StackError {
        StackError {
            diagnostics: vec![Diagnostic {
                loc,
                message: message.into(),
                help,
            }],
        }
    }
}

pub(super) fn diag(
    root: &Node,
    path: &[&str],
    message: String,
    help: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        loc: Some(root.locate(path).loc.clone()),
        message,
        help: Some(help.into()),
    }
}
