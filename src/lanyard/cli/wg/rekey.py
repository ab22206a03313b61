"""`lanyard wg rekey`: a WG report reader replaces their own keys.

The old signing key signs the call and the new one signs a proof, so the registry puts the
new keys into the recipient set it signs and lists the old signing key as retired (steps
signed with it still verify at the events). The old private keys stay in the reader's key
file, so reports sealed to them still open.
"""

from __future__ import annotations

from lanyard.cli.output import CliError, JsonOut, emit_json, say
from lanyard.cli.registry.common import Endpoint
from lanyard.cli.wg.commands import (
    RegistryDataDir,
    Session,
    WgKey,
    WgPassphraseFile,
    default_wg_key,
    public_record,
    registry_address,
    wg_passphrase,
)
from lanyard.core import passphrase, wg_member


def rekey(
    data_dir: RegistryDataDir,
    wg_key: WgKey = None,
    passphrase_file: WgPassphraseFile = None,
    endpoint: Endpoint = None,
    json_out: JsonOut = False,
) -> None:
    """Replace your keys: the old signing key vouches for the new ones at the registry,
    which signs the new recipient set. The old keys stay in your key file, so reports
    sealed to them still open."""
    path = wg_key or default_wg_key()
    address = registry_address(data_dir, endpoint)
    wg_member.public(path)
    secret = wg_passphrase(passphrase_file, new=False)
    try:
        old = wg_member.load(path, secret)
    except passphrase.WrongPassphrase as exc:
        raise CliError(f"the passphrase does not open the WG key {path}") from exc
    session = Session(address, old.signing, old.name, old)
    kdf = wg_member.strength(path)
    new = wg_member.rekeyed(old)
    # Written beside the key file until the registry confirms: if its answer is lost, the
    # keys it may already hold are not (`wg show` and `registry recipient list` compare).
    pending = path.with_name(path.name + ".pending")
    wg_member.save(pending, new, secret, kdf)
    recipients = session.run(
        lambda c: c.rekey_recipient(new.name, new.encryption_public, new.signing)
    )
    wg_member.save(path, new, secret, kdf)
    pending.unlink(missing_ok=True)
    if json_out:
        emit_json(
            {
                **public_record(new),
                "retired": len(new.retired),
                "recipients_version": int(recipients.version),
            }
        )
        return
    say(f"{new.name}: new keys in {path}; {len(new.retired)} earlier key pair(s) kept there.")
    say(f"Encryption key (X25519): {new.encryption_public.hex()}")
    say(f"Signing key (Ed25519):   {new.signing_public.hex()}")
    say(f"The registry's recipient set is now version {recipients.version}.")
