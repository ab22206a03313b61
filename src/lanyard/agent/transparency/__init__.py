"""The event's public Code of Conduct transparency report (DESIGN.md flow 7).

The seeds ask every event to publish one: an initial report at the closing ceremony and a
final one within a month, that shows the policy enforced and reveals no one. It is written
here from the records the agent already holds, from controlled vocabulary only, and a
privacy check searches the rendered text for every identifier the agent holds before a
byte of it is written.
"""
