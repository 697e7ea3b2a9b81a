//! What `--output json` prints on stdout when a command fails (exit 1, 2 or 3): one
//! [`ErrorDocument`], whose schema is `schemas/output/error.schema.json`.

use baton_view::GateOutcome;
use serde::{Deserialize, Serialize};

/// What `--output json` prints on stdout when a command fails.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorDocument {
    /// What went wrong.
    pub error: ErrorBody,
    /// For a gate refusal (exit 3): every gate, holding or not, with what would make it hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateOutcome>,
}

/// The error itself.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Which part failed.
    pub kind: ErrorKind,
    /// The message, as printed on stderr after `error:`.
    pub message: String,
    /// What caused it, outermost first, each once.
    pub causes: Vec<String>,
    /// What to do, when baton knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The exit code.
    pub exit_code: u8,
}

/// Which part of baton an error comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The command line (exit 2).
    Usage,
    /// A gate refused, or break-glass is not allowed (exit 3).
    Refused,
    /// The state repository: discovery, a file in it, a signature, the branch.
    State,
    /// A store: layout or registry.
    Store,
    /// A descriptor or a bundle's bytes.
    Bundle,
    /// The applier or a target: secrets, rendering, files, records, the lock, a command.
    Target,
    /// Anything else (an IO error outside the parts above).
    Other,
}

impl ErrorKind {
    /// The exit code a failure of this kind ends with: 2 for usage, 3 for a refusal, else 1.
    #[must_use]
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage => 2,
            ErrorKind::Refused => 3,
            _ => 1,
        }
    }
}

impl ErrorDocument {
    /// The gate that refused, by name, when this is a refusal that lists it.
    #[must_use]
    pub fn gate(&self, name: baton_view::GateName) -> Option<&GateOutcome> {
        self.gates.iter().find(|g| g.gate == name)
    }
}
