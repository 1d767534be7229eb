"""Setting up, joining and re-keying an encrypted folder: the key file on the server and the key in the keyring.

The key file (daemon/crypto/keys.py) is a plain file named KEYFILE_NAME at the folder's root on the server: it is
public by design (wrapped keys, salt, KDF parameters) and its name is the only plaintext name in an encrypted
folder. The encrypted client hides it from the folder. The unwrapped folder key lives in the credentials store
(the OS keyring by default), under the account `e2ee:<folder id>`, never in config.toml.

Every step that can fail (wrong passphrase, a server folder that is not empty, a name clash) fails before anything
is written, locally or on the server.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ferrysync.daemon.credentials import TokenStore
from ferrysync.daemon.crypto import KEYFILE_NAME, FolderKeys, FormatError, KeyFile
from ferrysync.daemon.crypto.keys import create_folder
from ferrysync.daemon.local.chunker import block_hash
from ferrysync.daemon.remote import PutOp, RemoteClient, RemoteError
from ferrysync.daemon.remote.blockmap import BlockMap
from ferrysync.daemon.remote.encrypted import EncryptedClient

log = logging.getLogger(__name__)

UNRECOVERABLE = ("Ferry cannot read this folder without its passphrase or its recovery key: whoever loses both "
                 "loses the files for good (the server holds only ciphertext). Write the recovery key down.")


class EncryptionSetupError(Exception):
    """Why an encrypted folder could not be created, joined or re-keyed (nothing was written)."""


def _keyfile_path(prefix: str) -> str:
    return f"{prefix}/{KEYFILE_NAME}" if prefix else KEYFILE_NAME


def fetch_keyfile(client: RemoteClient, prefix: str) -> tuple[KeyFile, int] | None:
    """The folder's key file and its revision, or None when the server folder has none."""
    live = [r for r in client.revisions(_keyfile_path(prefix)) if not r.deleted]
    if not live:
        return None
    newest = max(live, key=lambda r: r.rev)
    data = b"".join(client.get_block(h) for h in newest.blocks)
    return KeyFile.from_bytes(data), newest.rev


def is_encrypted_on_server(client: RemoteClient, prefix: str) -> bool:
    """Whether the server folder holds a key file. A server out of reach (or a bad key file) says no: adding a
    plain folder keeps working offline, as it always has; it is a guard against syncing ciphertext as plain files,
    not a promise."""
    try:
        return fetch_keyfile(client, prefix) is not None
    except (RemoteError, OSError, FormatError) as exc:
        log.info("could not check whether /%s is an encrypted folder: %s", prefix, exc)
        return False


def _server_has_files(client: RemoteClient, prefix: str) -> bool:
    for page in client.iter_changes(0):
        for fe in page.entries:
            if not fe.deleted and (not prefix or fe.path.startswith(prefix + "/")):
                return True
    return False


def store_keyfile(client: RemoteClient, prefix: str, keyfile: KeyFile, base_rev: int | None) -> None:
    data = keyfile.to_bytes()
    h = block_hash(data)
    if client.missing([h]):
        client.put_block(h, data)
    (result,) = client.commit([PutOp(_keyfile_path(prefix), (h,), len(data), 0, False, base_rev)])
    if not result.ok:
        raise EncryptionSetupError(f"the server refused the folder's key file: {result.code} {result.message}")


def credential_account(folder_id: str) -> str:
    return f"e2ee:{folder_id}"


def save_keys(store: TokenStore, server_url: str, folder_id: str, keys: FolderKeys) -> None:
    store.set_token(credential_account(folder_id), server_url, keys.export())


def load_keys(store: TokenStore, server_url: str, folder_id: str) -> FolderKeys | None:
    text = store.get_token(credential_account(folder_id), server_url)
    return None if text is None else FolderKeys.load(text)


def forget_keys(store: TokenStore, server_url: str, folder_id: str) -> None:
    store.delete_token(credential_account(folder_id), server_url)


def open_folder(client: RemoteClient, prefix: str, *, passphrase: str | None, recovery_key: str | None,
                ) -> tuple[FolderKeys, str | None]:
    """Join the encrypted folder at `prefix`, or create it there when the server has no key file.

    Returns (keys, recovery key text) — the text only when the folder was created (show it once). Raises
    WrongPassphrase, or EncryptionSetupError (e.g. a server folder with plain files in it)."""
    if not prefix:
        raise EncryptionSetupError("an encrypted folder needs its own folder on the server (not the account root)")
    found = fetch_keyfile(client, prefix)
    if found is not None:
        keyfile, _ = found
        if recovery_key:
            return keyfile.unlock_recovery(recovery_key), None
        if not passphrase:
            raise EncryptionSetupError("this server folder is encrypted: give its passphrase or recovery key")
        return keyfile.unlock(passphrase), None
    if recovery_key:
        raise EncryptionSetupError(f"/{prefix} on the server is not an encrypted folder: a recovery key cannot "
                                   "create one")
    if not passphrase:
        raise EncryptionSetupError("choose a passphrase for the new encrypted folder")
    if _server_has_files(client, prefix):
        raise EncryptionSetupError(f"/{prefix} on the server already holds unencrypted files: choose another "
                                   "server folder (--remote) for an encrypted one")
    keyfile, keys, recovery_text = create_folder(passphrase)
    store_keyfile(client, prefix, keyfile, None)
    return keys, recovery_text


def change_passphrase(client: RemoteClient, prefix: str, keys: FolderKeys, *, old: str, new: str) -> None:
    """Re-wrap the folder key under `new` (no data is re-encrypted). `old` is the current passphrase or the
    recovery key: it must unwrap the same folder key this device holds. Raises WrongPassphrase."""
    if not new:
        raise EncryptionSetupError("the new passphrase is empty")
    found = fetch_keyfile(client, prefix)
    if found is None:
        raise EncryptionSetupError(f"/{prefix} on the server has no key file")
    keyfile, rev = found
    try:
        current = keyfile.unlock(old)
    except Exception:  # noqa: BLE001 - not the passphrase: perhaps the recovery key (raises WrongPassphrase)
        current = keyfile.unlock_recovery(old)
    if current.master != keys.master:
        raise EncryptionSetupError("the server's key file holds another folder key than this device's")
    store_keyfile(client, prefix, keyfile.rewrap(keys, new), rev)


def blockmap_path(state_dir: Path, folder_id: str) -> Path:
    return state_dir / "e2ee" / f"{folder_id}.blocks.db"


def folder_client(inner: RemoteClient, keys: FolderKeys, prefix: str, state_dir: Path, folder_id: str,
                  ) -> EncryptedClient:
    return EncryptedClient(inner, keys, prefix, BlockMap(blockmap_path(state_dir, folder_id)))


def forget_folder(client: RemoteClient, state_dir: Path, folder_id: str) -> None:
    """Close and delete a removed folder's block index (a cache: nothing of the user's is lost)."""
    if isinstance(client, EncryptedClient):
        client.map.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(blockmap_path(state_dir, folder_id)) + suffix).unlink(missing_ok=True)
