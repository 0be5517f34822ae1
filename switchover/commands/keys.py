"""`switchover keys generate DIR`: the server-group keypair, or an operator's own key.

Without `--rights` it writes the server-group keypair both servers share. With
`--rights` it writes an operator's key: the public half goes into the pair's
`[security] admin_keys` directory on both servers, the secret half stays with the
operator (`--key FILE` on every command). An existing key is never overwritten
without `--force`: replacing it would lock out whoever holds it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from switchover.client import EXIT_USAGE, CommandFailed

NAME = "keys"
HELP = "generate the server-group CURVE keypair, or an operator's key with its rights"
#: The rights the admin socket knows (the reference's status, Remote Control, master).
RIGHTS = ("status", "remote-control", "master")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    gen = sub.add_parser("generate", help="write NAME.key (public) and NAME.key_secret",
                         description="write NAME.key (public) and NAME.key_secret (0600)")
    gen.add_argument("directory", type=Path, help="where to write the two files")
    gen.add_argument("--name", default="server-group",
                     help="file stem: server-group, or the operator's name for an admin key")
    gen.add_argument("--rights", default=None,
                     help="make an operator key with these comma-separated rights "
                          f"({', '.join(RIGHTS)})")
    gen.add_argument("--force", action="store_true", help="overwrite an existing key")


def parse_rights(text: str) -> str:
    """The rights list, normalised; CommandFailed naming an unknown right."""
    rights = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in rights if r not in RIGHTS]
    if unknown or not rights:
        raise CommandFailed(f"--rights {text!r}: unknown right {', '.join(unknown) or '(none)'}"
                            f"; known rights: {', '.join(RIGHTS)}", EXIT_USAGE)
    return ",".join(dict.fromkeys(rights))


def execute(args: argparse.Namespace) -> int:
    from switchover.transport.security import generate_keypair

    name = args.name
    if not name or "/" in name or name.startswith("."):
        raise CommandFailed(f"--name {name!r}: a plain file name is needed", EXIT_USAGE)
    rights = parse_rights(args.rights) if args.rights is not None else None
    existing = [p for p in (args.directory / f"{name}.key", args.directory / f"{name}.key_secret")
                if p.exists()]
    if existing and not args.force:
        raise CommandFailed(f"{existing[0]} exists: not overwritten (give --force to replace "
                            "it; whoever holds the old key loses access)", EXIT_USAGE)
    try:
        public, secret = generate_keypair(args.directory, name,
                                          {"rights": rights} if rights else None)
    except OSError as exc:
        raise CommandFailed(f"{args.directory}: cannot write the keys: {exc}", EXIT_USAGE) \
            from None
    if rights:
        print(f"operator {name}, rights {rights}")
        print(f"public key:  {public}  -> copy into [security] admin_keys on both servers")
        print(f"secret key:  {secret}  (0600; SECRET: stays with {name}, use it with --key)")
    else:
        print(f"public key:  {public}  -> give to operators (--server-key) and both servers")
        print(f"secret key:  {secret}  (0600; SECRET: copy to both servers only, as "
              "[security] server_group_key)")
    return 0
