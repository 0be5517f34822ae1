"""`switchover keys generate DIR`: the server-group keypair both servers share."""
from __future__ import annotations

import argparse
from pathlib import Path

NAME = "keys"
HELP = "generate the server-group CURVE keypair (copy it to both servers)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", required=True)
    gen = sub.add_parser("generate", help="write server-group.key and server-group.key_secret")
    gen.add_argument("directory", type=Path)
    gen.add_argument("--name", default="server-group",
                     help="file stem (e.g. an operator's name for an admin key)")
    gen.add_argument("--rights", default=None,
                     help="for an operator key: comma-separated rights "
                          "(status, remote-control, master)")


def execute(args: argparse.Namespace) -> int:
    from transport.security import generate_keypair

    metadata = {"rights": args.rights} if args.rights else None
    public, secret = generate_keypair(args.directory, args.name, metadata)
    print(f"public key:  {public}")
    print(f"private key: {secret} (mode 0600; keep it secret, identical on both servers)")
    return 0
