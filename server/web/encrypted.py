"""What the web app knows of end-to-end encrypted folders (docs/encryption.md): which folder is one, so that the
pages say so and refuse what would write plaintext into it (files.refuse_writing_into).

The server never holds the folder key: below an encrypted folder's root every name is ciphertext and every file's
first block is an encrypted record, which only a device with the key can write. A web upload, a new folder or a
rename there would commit a plain name the devices cannot decrypt (they refuse it as tampered), so the web app
refuses those and offers downloads of the ciphertext only. Deleting and restoring stay allowed: they write no name.
An encrypted folder is one whose root holds the daemon's key file (KEY_FILE, the daemon's `KEYFILE_NAME`;
tests/test_wire_contract.py checks the two agree).
"""

from __future__ import annotations

from ferrysync.server.context import AppContext

KEY_FILE = ".ferry-e2ee-keys"


def encrypted_root(ctx: AppContext, user_id: int, path: str) -> str | None:
    """The encrypted folder that is `path` or holds it ("" is the account's root, never encrypted), or None."""
    parts = path.split("/") if path else []
    for i in range(1, len(parts) + 1):
        root = "/".join(parts[:i])
        if ctx.meta.entry(user_id, f"{root}/{KEY_FILE}") is not None:
            return root
    return None

