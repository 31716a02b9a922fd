//! Markdown for a pull-request comment, an issue body or a CI job summary: a summary table, then
//! the details. Secrets are never shown (sensitive fields carry no values).

use std::fmt::Write as _;

use super::{DriftClass, DriftReport, Finding, Status, fields_line, who_line};

/// Escapes what would break a table cell or start markup.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn render(report: &DriftReport) -> String {
    let mut out = String::new();
    let headline = match report.status {
        Status::InSync => "✅ in sync",
        Status::Drift => "⚠️ drift",
        Status::Error => "❌ error",
    };
    let _ = writeln!(out, "## mck drift: {headline}\n");
    let _ = writeln!(
        out,
        "| stack | status | checked | changed | missing | extra | unmanaged | suppressed | unchecked |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for stack in &report.stacks {
        let c = stack.counts();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&stack.stack),
            stack.status().as_str(),
            c.checked,
            c.changed,
            c.missing,
            c.extra,
            c.unmanaged,
            c.suppressed,
            c.unchecked
        );
    }
    for stack in &report.stacks {
        let _ = writeln!(out, "\n### {} ({})\n", cell(&stack.stack), stack.region);
        if let Some(error) = &stack.error {
            let _ = writeln!(out, "**Error:** {}\n", cell(error));
            if stack.checked.is_empty() {
                let _ = writeln!(
                    out,
                    "Not checked: this report says nothing about the stack."
                );
                continue;
            }
        }
        let (active, rest): (Vec<&Finding>, Vec<&Finding>) =
            stack.findings.iter().partition(|f| f.is_active());
        if active.is_empty() {
            let _ = writeln!(out, "No drift in {} resources.", stack.checked.len());
        } else {
            table(&mut out, &active);
        }
        let suppressed: Vec<&Finding> =
            rest.iter().copied().filter(|f| f.is_suppressed()).collect();
        if !suppressed.is_empty() {
            let _ = writeln!(out, "\n**Suppressed** (`drift.ignore`):\n");
            table(&mut out, &suppressed);
        }
        let unchecked: Vec<&Finding> = rest
            .iter()
            .copied()
            .filter(|f| f.class == DriftClass::Unchecked)
            .collect();
        if !unchecked.is_empty() {
            let _ = writeln!(
                out,
                "\n<details><summary>Not compared ({})</summary>\n",
                unchecked.len()
            );
            for f in unchecked {
                let _ = writeln!(out, "- `{}` ({}): {}", f.resource, f.kind, cell(&f.message));
            }
            let _ = writeln!(out, "\n</details>");
        }
    }
    out
}

fn table(out: &mut String, findings: &[&Finding]) {
    let _ = writeln!(
        out,
        "| class | resource | kind | cloud id | fields (live → stack) | details |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for f in findings {
        let mut details = f.message.clone();
        if let Some(s) = &f.suppression {
            let state = if s.expired { "expired on" } else { "until" };
            details.push_str(&format!("; suppressed {state} {}: {}", s.expires, s.reason));
        }
        if let Some(loc) = &f.location {
            details.push_str(&format!("; declared at `{}:{}`", loc.file, loc.line));
        }
        if let Some(who) = &f.who {
            details.push_str("; ");
            details.push_str(&who_line(who));
        }
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} |",
            f.class.as_str(),
            cell(&f.resource),
            f.kind,
            f.cloud_id
                .as_deref()
                .map_or_else(String::new, |c| format!("`{}`", cell(c))),
            cell(&fields_line(f)),
            cell(&details)
        );
    }
}
