"""JUnit XML, the one writer: a run's checks and a certification's cells alike are test
cases whose outcome a CI dashboard shows."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

OUTCOMES = ("passed", "failure", "error", "skipped")


@dataclass(frozen=True)
class Case:
    """One test case: ``outcome`` is passed, failure, error or skipped."""

    classname: str
    name: str
    outcome: str
    message: str = ""
    text: str = ""
    time_s: float | None = None


def junit_xml(suite_name: str, cases: list[Case], time_s: float) -> str:
    """A ``<testsuites>`` document with one suite of these cases."""
    count = {o: sum(c.outcome == o for c in cases) for o in OUTCOMES}
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(cases)),
                       failures=str(count["failure"]), errors=str(count["error"]),
                       skipped=str(count["skipped"]), time=f"{time_s:.3f}")
    for c in cases:
        attrs = {"classname": c.classname, "name": c.name}
        if c.time_s is not None:
            attrs["time"] = f"{c.time_s:.3f}"
        case = ET.SubElement(suite, "testcase", attrs)
        if c.outcome in ("failure", "error"):
            ET.SubElement(case, c.outcome, message=c.message).text = c.text or None
        elif c.outcome == "skipped":
            ET.SubElement(case, "skipped", message=c.message)
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
