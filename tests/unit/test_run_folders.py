"""A run folder's errors name the folder the user asked for, never its hidden staging twin."""

from __future__ import annotations

import errno
import os

from sim.scenario.folders import RunFolder


def _raised_inside(out, make_error):
    """Raise ``make_error(staging)`` inside a run folder; return the error that comes out."""
    try:
        with RunFolder(out, "x") as folder:
            raise make_error(folder.staging)
    except OSError as exc:
        error = exc
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    return error


def test_paths_inside_staging_are_renamed_as_text_bytes_or_path(tmp_path):
    out = tmp_path / "run"
    for kind in (str, os.fsencode, lambda p: p):
        exc = _raised_inside(
            out,
            lambda staging, kind=kind: OSError(
                errno.ENOSPC, "No space left on device", kind(staging / "plots" / "a.png")
            ),
        )
        assert exc.filename == str(out / "plots" / "a.png")


def test_a_path_that_only_starts_like_staging_is_left_alone(tmp_path):
    out = tmp_path / "run"
    seen = {}

    def error(staging):
        seen["other"] = f"{staging}-other/file"  # a sibling, not inside the staging folder
        return OSError(errno.EACCES, "Permission denied", seen["other"], None, f"{staging}/b")

    exc = _raised_inside(out, error)
    assert exc.filename == seen["other"]
    assert exc.filename2 == str(out / "b")


def test_an_error_naming_no_file_names_the_folder_and_keeps_its_text(tmp_path):
    out = tmp_path / "run"
    exc = _raised_inside(out, lambda staging: OSError("Error writing bytes to file"))
    assert exc.filename == str(out)
    assert exc.args[0] == "Error writing bytes to file"
