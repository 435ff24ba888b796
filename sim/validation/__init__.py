"""Validation: closed-form results and the checks of the simulator against them.

``theory`` holds the formulas (no simulation); ``checks`` runs the engine on scenarios
built for each formula and writes the validation report.

May import: the engine and everything below it.
"""
