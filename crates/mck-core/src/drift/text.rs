//! The terminal rendering.

use std::fmt::Write as _;

use super::{DriftClass, DriftReport, Status, fields_line, who_line};

pub(super) fn render(report: &DriftReport) -> String {
    let mut out = String::new();
    for stack in &report.stacks {
        let c = stack.counts();
        let _ = writeln!(out, "stack {} ({}):", stack.stack, stack.region);
        if let Some(error) = &stack.error {
            let _ = writeln!(out, "  error: {error}");
            if stack.checked.is_empty() {
                let _ = writeln!(
                    out,
                    "  not checked: the report says nothing about this stack"
                );
                continue;
            }
        }
        for class in DriftClass::ALL {
            let items: Vec<_> = stack.findings.iter().filter(|f| f.class == class).collect();
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  {}:", class.as_str());
            for f in items {
                let mark = if f.is_suppressed() {
                    " [suppressed]"
                } else {
                    ""
                };
                let cloud = f
                    .cloud_id
                    .as_deref()
                    .map_or_else(String::new, |c| format!(" {c}"));
                let _ = writeln!(out, "    {} ({}{cloud}){mark}", f.resource, f.kind);
                let fields = fields_line(f);
                if !fields.is_empty() {
                    let _ = writeln!(out, "      {fields}");
                }
                let _ = writeln!(out, "      {}", f.message);
                if let Some(s) = &f.suppression {
                    let state = if s.expired { "expired on" } else { "until" };
                    let _ = writeln!(out, "      suppressed {state} {}: {}", s.expires, s.reason);
                }
                if let Some(loc) = &f.location {
                    let _ = writeln!(out, "      declared at {}:{}", loc.file, loc.line);
                }
                if let Some(who) = &f.who {
                    let _ = writeln!(out, "      {}", who_line(who));
                }
            }
        }
        let verdict = match stack.status() {
            Status::InSync => "in sync",
            Status::Drift => "DRIFT",
            Status::Error => "error",
        };
        let _ = writeln!(
            out,
            "  {verdict}: {} resources checked, {} changed, {} missing, {} extra, {} unmanaged, {} suppressed, {} unchecked",
            c.checked, c.changed, c.missing, c.extra, c.unmanaged, c.suppressed, c.unchecked
        );
    }
    if report.stacks.is_empty() {
        let _ = writeln!(out, "no stack found");
    }
    out
}
