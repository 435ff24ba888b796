"""Command line: ``ccsim`` and its commands, one module per command family.

Turns arguments into calls of the layers below and errors into one line and an exit code.
Nothing below imports it.

May import: every other subpackage.
"""
