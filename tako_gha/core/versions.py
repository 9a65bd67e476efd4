"""Versions and ranges (SPEC §3). Versions via ``semver``; the range grammar is ours.

INTERFACE (agreed):
    parse_version(text) -> semver.Version   # "1" -> 1.0.0, "1.2" -> 1.2.0, "v1.2.3" ok
    parse_range(text) -> VersionRange       # raises RangeError(message with a hint)
    VersionRange.contains(version: str | semver.Version) -> bool
    VersionRange.text                       # the source text
Forms: intervals ``[1.0.0...2.0.0)`` ``(1.1.0...2.0.0]``; comparators
``>=1.2.0 <2.0.0``; caret ``^1.2``; tilde ``~1.2.3``; wildcards ``1.x`` ``*``;
unions ``||``; partial versions; pre-releases by semver ordering.
"""
