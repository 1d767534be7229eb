"""What the file system under a sync root can hold, probed once per folder start.

The platform says what is typical (NTFS and APFS fold case), but a Linux machine can mount a case-insensitive
disk and APFS can be formatted case-sensitive: the planner needs the truth of this disk.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import unicodedata
from pathlib import Path

from ferrysync.daemon.local.names import Profile


def probe_profile(scratch: Path, base: Profile | None = None) -> Profile:
    """The platform's profile, with case and Unicode-form folding as `scratch` (a dir on the disk) shows."""
    profile = base or Profile.current()
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(4)
        probe = scratch / f"ferry-case-probe-{token}"
        probe.touch()
        try:
            case_insensitive = (scratch / f"FERRY-CASE-PROBE-{token}").exists()
        finally:
            probe.unlink(missing_ok=True)
        nfc = unicodedata.normalize("NFC", f"ferry-\u00e9-{token}")
        (scratch / nfc).touch()
        try:
            norm_insensitive = os.path.exists(scratch / unicodedata.normalize("NFD", nfc))
        finally:
            (scratch / nfc).unlink(missing_ok=True)
    except OSError:
        return profile
    return dataclasses.replace(profile, case_insensitive=case_insensitive,
                               normalization_insensitive=norm_insensitive)
