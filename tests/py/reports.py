"""Checks drift reports as the formats' own tools would: `reports.py KIND FILE [SCHEMA]`.

json   FILE SCHEMA: validates against mck's JSON schema (docs/drift.schema.json);
sarif  FILE SCHEMA: validates against the SARIF 2.1.0 definitions mck uses;
junit  FILE:        parses the XML and checks the JUnit structure and its counts.
Prints a JSON summary; exits non-zero on the first problem.
"""

import json
import sys
import xml.etree.ElementTree as ET

import jsonschema


def check_schema(path, schema_path):
    with open(path) as f:
        doc = json.load(f)
    with open(schema_path) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(doc)
    return doc


def junit(path):
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites", root.tag
    cases = failures = errors = 0
    failed = []
    for suite in root.findall("testsuite"):
        s_cases = suite.findall("testcase")
        s_failed = [c for c in s_cases if c.find("failure") is not None]
        s_errors = [c for c in s_cases if c.find("error") is not None]
        assert int(suite.get("tests")) == len(s_cases), suite.attrib
        assert int(suite.get("failures")) == len(s_failed), suite.attrib
        assert int(suite.get("errors")) == len(s_errors), suite.attrib
        for case in s_cases:
            assert case.get("name") and case.get("classname"), case.attrib
            for f in case.findall("failure"):
                assert f.get("type") and f.get("message"), f.attrib
                failed.append({"name": case.get("name"), "type": f.get("type"), "text": f.text})
        cases += len(s_cases)
        failures += len(s_failed)
        errors += len(s_errors)
    assert int(root.get("tests")) == cases
    assert int(root.get("failures")) == failures
    assert int(root.get("errors")) == errors
    return {"tests": cases, "failures": failures, "errors": errors, "failed": failed}


def main():
    kind, path = sys.argv[1], sys.argv[2]
    if kind in ("json", "sarif"):
        doc = check_schema(path, sys.argv[3])
        print(json.dumps({"valid": True, "doc": doc}))
    elif kind == "junit":
        print(json.dumps(junit(path)))
    else:
        raise SystemExit(f"unknown kind {kind}")


main()
