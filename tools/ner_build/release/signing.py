"""Signatures the customer can check offline with OpenSSH, which every Linux host has.

`ssh-keygen -Y sign` signs a file with the vendor's key (a private key file, or a public key
whose private half is in ssh-agent); `ssh-keygen -Y verify` checks it against an
allowed-signers file: `PRINCIPAL namespaces="ner-app-bundle" KEYTYPE KEY`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ner_build import process
from ner_build.errors import CheckFailed

NAMESPACE = "ner-app-bundle"  # a signature for a bundle is not valid for anything else
MAKE_KEY_HINT = (
    "Make one with `ssh-keygen -t ed25519 -f ~/.ssh/ner-app-bundle -C you@example.com` and keep "
    "it safe; give your customers its allowed_signers line (or fingerprint) another way."
)
SSH_KEYGEN = "ssh-keygen"
MISSING = "ssh-keygen was not found: install OpenSSH's client (Debian: openssh-client)."


@dataclass(frozen=True)
class SigningKey:
    """The key to sign with (as ssh-keygen -f takes it) and its public half."""

    path: Path
    public: str  # "ssh-ed25519 AAAA... comment"

    @property
    def principal(self) -> str:
        """The key's comment (e.g. an e-mail address), which names the signer."""
        parts = self.public.split()
        return parts[2] if len(parts) > 2 else ""

    def allowed_signers(self, principal: str) -> str:
        key_type, key = self.public.split()[:2]
        return f'{principal} namespaces="{NAMESPACE}" {key_type} {key}\n'


def load(path: Path | None) -> SigningKey:
    """The key at path (private, or public with its private half in ssh-agent)."""
    if path is None:
        raise CheckFailed(f"No signing key: pass --key FILE or set NER_BUNDLE_KEY. {MAKE_KEY_HINT}")
    if not path.is_file():
        raise CheckFailed(f"The signing key {path} does not exist. {MAKE_KEY_HINT}")
    if path.suffix == ".pub":
        return SigningKey(path, path.read_text().strip())
    beside = path.with_name(path.name + ".pub")
    if beside.is_file():
        return SigningKey(path, beside.read_text().strip())
    public = _keygen("-y", "-f", str(path), hint=f"Is {path} an OpenSSH private key?")
    return SigningKey(path, public.strip())


def sign(key: SigningKey, message: Path) -> Path:
    """Write message.sig, a signature over message in the bundle namespace."""
    signature = message.with_name(message.name + ".sig")
    signature.unlink(missing_ok=True)
    _keygen(
        "-Y", "sign", "-f", str(key.path), "-n", NAMESPACE, str(message),
        hint="A key with a passphrase must be in ssh-agent: `ssh-add KEY`, then pass KEY.pub.",
    )  # fmt: skip
    return signature


def fingerprint(public: str) -> str:
    """The SHA256 fingerprint of a public key line, as `ssh-keygen -l` prints it."""
    out = _keygen("-l", "-f", "-", input_text=public + "\n")
    return out.split()[1]


def _keygen(*args: str, hint: str = "", input_text: str | None = None) -> str:
    """ssh-keygen's output; FailedProcessError (with the hint) when it fails."""
    command = [SSH_KEYGEN, *args]
    return process.run(command, input_text=input_text, hint=hint, missing=MISSING).stdout
