"""`[witness]`: optional, and every refusal is one line naming the key and the value."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from switchover.config import load_config
from tests.unit.test_config import example, refused, write


def with_witness(**table: Any) -> dict[str, Any]:
    data = example()
    data["witness"] = table
    return data


def test_without_witness_there_is_none(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, example())).witness is None


def test_a_full_witness_table(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, with_witness(
        endpoints=["https://10.60.0.9:2379", "https://etcd2.example.net", "https://[::1]:2381/"],
        prefix="/switchover/pair1/", ca_file="keys/ca.pem", cert_file="/etc/c.pem",
        key_file="/etc/c.key", user="switchover", password=" with spaces ")))
    w = config.witness
    assert w is not None
    assert w.endpoints == ("https://10.60.0.9:2379", "https://etcd2.example.net:2379",
                           "https://[::1]:2381")
    assert w.prefix == "/switchover/pair1"
    assert w.ca_file == tmp_path / "keys" / "ca.pem" and w.key_file == Path("/etc/c.key")
    assert (w.user, w.password) == ("switchover", " with spaces ")
    assert "with spaces" not in repr(w)


def test_one_endpoint_may_be_a_string(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, with_witness(endpoints="http://127.0.0.1:2379",
                                                      prefix="/p")))
    assert config.witness.endpoints == ("http://127.0.0.1:2379",)


@pytest.mark.parametrize(("table", "expected"), [
    ({"prefix": "/p"}, '[witness] endpoints: is required'),
    ({"endpoints": [], "prefix": "/p"}, "[witness] endpoints = []: allowed a non-empty list"),
    ({"endpoints": ["10.0.0.9:2379"], "prefix": "/p"},
     '[witness] endpoints = "10.0.0.9:2379": allowed http://host:port'),
    ({"endpoints": ["http://a:2379/v3"], "prefix": "/p"}, "with no path"),
    ({"endpoints": ["http://a:99999"], "prefix": "/p"}, "port 1..65535"),
    ({"endpoints": ["http://u:pw@a:2379"], "prefix": "/p"}, "allowed http://host:port"),
    ({"endpoints": ["http://a", "http://a:2379"], "prefix": "/p"}, "listed twice"),
    ({"endpoints": ["http://a", "https://b"], "prefix": "/p"}, "mixes http:// and https://"),
    ({"endpoints": ["http://a"]}, "[witness] prefix: is required"),
    ({"endpoints": ["http://a"], "prefix": "switchover"}, '[witness] prefix = "switchover"'),
    ({"endpoints": ["http://a"], "prefix": "/"}, "no empty segment"),
    ({"endpoints": ["http://a"], "prefix": "/a b"}, "no spaces"),
    ({"endpoints": ["http://a"], "prefix": "/a//b"}, "no empty segment"),
    ({"endpoints": ["https://a"], "prefix": "/p", "cert_file": "c.pem"},
     "[witness] cert_file = \"c.pem\": cert_file and key_file go together"),
    ({"endpoints": ["http://a"], "prefix": "/p", "ca_file": "ca.pem"},
     "a TLS file needs https:// endpoints, but http://a:2379 is http://"),
    ({"endpoints": ["http://a"], "prefix": "/p", "user": "u"},
     "[witness] user: user and password go together"),
    ({"endpoints": ["http://a"], "prefix": "/p", "password": ""}, "[witness] password = \"\""),
    ({"endpoints": ["http://a"], "prefix": "/p", "ttl": 10},
     "[witness] ttl: unknown key; allowed keys: endpoints, prefix"),
])
def test_refusals_name_the_key(tmp_path: Path, table: dict, expected: str) -> None:
    message = refused(tmp_path, with_witness(**table))
    assert expected in message, message
    assert "\n" not in message


def test_witness_must_be_a_table(tmp_path: Path) -> None:
    data = example()
    data["witness"] = "http://a"
    assert "[witness]: must be a table" in refused(tmp_path, data)
