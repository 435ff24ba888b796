"""The three call-log formats: their field names, their row readers and their detection.

``graph-json``
    Microsoft Graph ``getPstnCalls`` responses: ``{"value": [pstnCallLogRow, ...]}``, several
    such pages one after the other, or a JSON array of pages (or of rows). The file is
    parsed incrementally (``json.JSONDecoder.raw_decode`` over chunks), one row at a time;
    numbers are kept as their literal text so that charges stay exact decimals
    (``graph_json``).
``graph-csv``
    CSV with the ``pstnCallLogRow`` field names as headers (``csv_logs``).
``admin-csv``
    The Teams admin center PSTN usage report export ("Time stamp (UTC)", "Call type",
    "Called to", "To country or region", "Charge", ...; also the names of the zipped
    ``PSTN.calls.*.csv`` export such as "Start Time" or "User Location"). Headers are
    matched ignoring case, spacing, punctuation and order (``csv_logs``).

``fields`` holds the canonical fields the readers fill; ``detection`` opens a file (gzip,
zip export, UTF-8 or UTF-16) and tells its format. The readers hand raw chunks of strings
to ``sim.calllogs.convert``.
"""
