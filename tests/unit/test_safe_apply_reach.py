"""The reach.ssh runner (master side of safe_apply's probe): the address and
port come from the host's cluster pillar; an id the pillar does not describe,
or a malformed one, is refused; an SSH banner within the timeout is True, a
closed port or a silent one False."""

import socket
import threading
from unittest.mock import create_autospec

import pytest
import salt.runners.pillar

from tests.loaders import load
from tests.pillar_cases import lab_pillar

reach = load("_runners", "reach")


def pillar(address="127.0.0.1", port=None):
    """hyp1's pillar as the master renders it (the lab's), its public address
    ``address`` and, when given, firewall:ssh_port ``port``."""
    data = lab_pillar()
    data["hypervisor"]["hosts"]["hyp1"]["public"]["address"] = address
    if port is not None:
        data["hypervisor"].setdefault("firewall", {})["ssh_port"] = port
    return data


@pytest.fixture
def show_pillar():
    return create_autospec(salt.runners.pillar.show_pillar, return_value=pillar())


@pytest.fixture
def configure_loader_modules(show_pillar):
    return {reach: {"__salt__": {"pillar.show_pillar": show_pillar}}}


def server(banner):
    """A listening socket on localhost that greets each connection with ``banner``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def serve():
        conn, _ = sock.accept()
        with conn:
            if banner:
                conn.sendall(banner)
            conn.recv(1)

    threading.Thread(target=serve, daemon=True).start()
    return sock


def test_target_from_pillar():
    assert reach._target(pillar("203.0.113.11"), "hyp1") == ("203.0.113.11", 22)
    assert reach._target(pillar("203.0.113.11", 2222), "hyp1") == ("203.0.113.11", 2222)
    assert reach._target(pillar(), "hyp9") is None
    assert reach._target(lab_pillar(), "hyp2") == ("203.0.113.12", 22)  # the lab's own, as it is
    assert reach._target({}, "hyp1") is None


def test_ssh_banner_is_reached(show_pillar):
    sock = server(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    show_pillar.return_value = pillar(port=sock.getsockname()[1])
    try:
        assert reach.ssh("hyp1") is True
    finally:
        sock.close()
    show_pillar.assert_called_once_with("hyp1")


def test_not_ssh_or_closed_is_not_reached(show_pillar, monkeypatch):
    monkeypatch.setattr(reach, "TIMEOUT", 0.5)
    sock = server(b"HTTP/1.0 400\r\n")
    show_pillar.return_value = pillar(port=sock.getsockname()[1])
    assert reach.ssh("hyp1") is False
    sock.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    show_pillar.return_value = pillar(port=closed.getsockname()[1])
    closed.close()
    assert reach.ssh("hyp1") is False


def test_unknown_or_malformed_ids_are_refused(show_pillar):
    assert reach.ssh("hyp9") is False
    assert reach.ssh("*") is False
    assert reach.ssh(["hyp1"]) is False
    show_pillar.assert_called_once_with("hyp9")
