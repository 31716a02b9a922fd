//! JUnit XML: one test suite per stack, one test case per resource (and per unmanaged
//! resource), so CI systems show drift as failed tests. A stack that could not be read is an
//! `<error>`; suppressed findings pass, with the suppression in `system-out`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{DriftReport, Finding, fields_line, who_line, xml_escape};

pub(super) fn render(report: &DriftReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let errors = report.stacks.iter().filter(|s| s.error.is_some()).count();
    let cases: Vec<(usize, usize)> = report.stacks.iter().map(suite_counts).collect();
    let _ = writeln!(
        out,
        "<testsuites name=\"mck drift\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\">",
        cases.iter().map(|c| c.0).sum::<usize>(),
        cases.iter().map(|c| c.1).sum::<usize>()
    );
    for (stack, (tests, failures)) in report.stacks.iter().zip(cases) {
        let name = xml_escape(&stack.stack);
        if let Some(error) = &stack.error {
            let _ = writeln!(
                out,
                "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"{name}\" name=\"read stack\">\n      <error message=\"{}\"/>\n    </testcase>\n  </testsuite>",
                xml_escape(error)
            );
            continue;
        }
        let _ = writeln!(
            out,
            "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
        );
        for (resource, (kind, findings)) in by_resource(stack) {
            let _ = write!(
                out,
                "    <testcase classname=\"{name}.{kind}\" name=\"{}\"",
                xml_escape(&resource)
            );
            if findings.is_empty() {
                let _ = writeln!(out, "/>");
                continue;
            }
            let _ = writeln!(out, ">");
            let mut notes = Vec::new();
            for f in &findings {
                let mut text = format!("{}: {}", f.class.as_str(), f.message);
                let fields = fields_line(f);
                if !fields.is_empty() {
                    text.push_str(&format!("\n{fields}"));
                }
                if let Some(loc) = &f.location {
                    text.push_str(&format!("\ndeclared at {}:{}", loc.file, loc.line));
                }
                if let Some(who) = &f.who {
                    text.push_str(&format!("\n{}", who_line(who)));
                }
                if f.is_active() {
                    let _ = writeln!(
                        out,
                        "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                        f.class.as_str(),
                        xml_escape(&format!("{} {}", f.class.as_str(), f.resource)),
                        xml_escape(&text)
                    );
                } else {
                    if let Some(s) = &f.suppression {
                        text.push_str(&format!("\nsuppressed until {}: {}", s.expires, s.reason));
                    }
                    notes.push(text);
                }
            }
            if !notes.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    xml_escape(&notes.join("\n"))
                );
            }
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    let _ = writeln!(out, "</testsuites>");
    out
}

/// Every checked resource (with its findings, maybe none), then resources found only by
/// findings (extra, unmanaged), by name.
fn by_resource(stack: &super::StackDrift) -> BTreeMap<String, (&'static str, Vec<&Finding>)> {
    let mut map: BTreeMap<String, (&'static str, Vec<&Finding>)> = stack
        .checked
        .iter()
        .map(|c| (c.resource.clone(), (c.kind, Vec::new())))
        .collect();
    for f in &stack.findings {
        map.entry(f.resource.clone())
            .or_insert_with(|| (f.kind, Vec::new()))
            .1
            .push(f);
    }
    map
}

/// (test cases, failed test cases) of a stack.
fn suite_counts(stack: &super::StackDrift) -> (usize, usize) {
    if stack.error.is_some() {
        return (1, 0);
    }
    let cases = by_resource(stack);
    let failed = cases
        .values()
        .filter(|(_, fs)| fs.iter().any(|f| f.is_active()))
        .count();
    (cases.len(), failed)
}
