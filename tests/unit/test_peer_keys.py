"""The peer_keys execution module: what a host publishes (its SSH host key, the
migration key, its tunnel certificate's SHA256 fingerprint, each None until it
exists), in the format OpenVPN's peer-fingerprint and openssl print; a peer's
entry read back from the mine, item by item or as known_hosts wants the host
key; a missing item refused with the host and what to run there. mine.get and
the settings are specs of the real functions."""

import datetime
import shutil
import subprocess
from unittest.mock import create_autospec

import pytest
import salt.modules.mine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, hypervisor_pillar, layered_parameters, load
from tests.pillar_cases import lab_pillar

peer_keys = load("_modules", "peer_keys")
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDrcbScsYQXxRV16QkqECQzPOstqOYwKBPLqL3XgC+Pu root@hyp2"
MIGRATION_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKkjiWCaOZiRp7IEHE60g3jTZdIsjK2U1nHKESIxMyWi hv-migration@hyp2"
)
FINGERPRINT = ":".join(["AB"] * 32)
HYP2 = {"host_key": HOST_KEY, "migration_key": MIGRATION_KEY, "tunnel_fingerprint": FINGERPRINT}


def self_signed_pem(cn="hyp1.lab.example"):
    """A certificate as tunnels.tls makes one: EC P-256, self-signed, CN = the FQDN."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def salt_mods():
    return {
        "mine.get": create_autospec(salt.modules.mine.get, return_value={}),
        "hypervisor_pillar.settings": create_autospec(hypervisor_pillar.settings),
    }


@pytest.fixture
def configure_loader_modules(salt_mods):
    return {peer_keys: {"__salt__": salt_mods}}


# ------------------------------------------------------------------ parsers


def test_public_key_line_is_normalised():
    assert peer_keys.parse_public_key(f"\n  {HOST_KEY}  \n") == HOST_KEY
    assert peer_keys.parse_public_key("ecdsa-sha2-nistp256 AAAAE2Vj") == "ecdsa-sha2-nistp256 AAAAE2Vj"


@pytest.mark.parametrize("text", [None, "", "not a key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"])
def test_no_public_key(text):
    assert peer_keys.parse_public_key(text) is None


def test_fingerprint_is_openvpn_and_openssl_format():
    pem = self_signed_pem()
    fingerprint = peer_keys.parse_fingerprint(pem)
    pairs = fingerprint.split(":")
    assert len(pairs) == 32
    assert all(len(p) == 2 and p == p.upper() and int(p, 16) >= 0 for p in pairs)
    digest = x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256())
    assert fingerprint == digest.hex(":").upper()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command here")
def test_fingerprint_matches_openssl_command():
    pem = self_signed_pem()
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().split("=", 1)[1].upper() == peer_keys.parse_fingerprint(pem)


# ------------------------------------------------------------------ public


def test_public_reads_the_four_items(tmp_path):
    (tmp_path / "host.pub").write_text(HOST_KEY + "\n")
    (tmp_path / "mig.pub").write_text(MIGRATION_KEY + "\n")
    pem, gluster = self_signed_pem(), self_signed_pem()
    (tmp_path / "host.crt").write_text(pem)
    (tmp_path / "glusterfs.pem").write_text(f"\n{gluster}\n\n")
    assert peer_keys.public(
        host_key=str(tmp_path / "host.pub"),
        migration_key=str(tmp_path / "mig.pub"),
        tunnel_cert=str(tmp_path / "host.crt"),
        gluster_cert=str(tmp_path / "glusterfs.pem"),
    ) == {
        "host_key": HOST_KEY,
        "migration_key": MIGRATION_KEY,
        "tunnel_fingerprint": peer_keys.parse_fingerprint(pem),
        "gluster_cert": gluster.strip() + "\n",  # the whole certificate: the peers trust it
        "sanlock_fire_timeout": None,  # given by the state on hosts with sanlock only
    }


def test_public_items_not_made_yet_are_none(tmp_path):
    assert peer_keys.public(
        host_key=str(tmp_path / "none.pub"),
        migration_key=str(tmp_path / "none.pub"),
        tunnel_cert=str(tmp_path / "none.crt"),
        gluster_cert=str(tmp_path / "none.pem"),
    ) == dict.fromkeys(
        ("host_key", "migration_key", "tunnel_fingerprint", "gluster_cert", "sanlock_fire_timeout")
    )


@pytest.mark.parametrize("value", [0, -1, True, "10", 2.5])
def test_public_refuses_a_fire_timeout_that_is_not_seconds(value):
    with pytest.raises(CommandExecutionError, match="is not a number of seconds"):
        peer_keys.public(
            host_key="/nonexistent",
            migration_key="/x",
            tunnel_cert="/x",
            gluster_cert="/x",
            sanlock_fire_timeout=value,
        )


def test_public_carries_the_fire_timeout_given():
    entry = peer_keys.public(
        host_key="/nonexistent",
        migration_key="/x",
        tunnel_cert="/x",
        gluster_cert="/x",
        sanlock_fire_timeout=10,
    )
    assert entry["sanlock_fire_timeout"] == 10


def test_public_defaults_come_from_the_settings(tmp_path, salt_mods, monkeypatch):
    """hyp1's real settings (the lab pillar, tunnels:openvpn_dir in a temporary directory):
    the migration user's key (root's, whose home is not the test's to write: read from a
    stand-in for that one path) and the tunnel certificate under openvpn_dir."""
    pillar = lab_pillar()
    pillar["hypervisor"].setdefault("tunnels", {})["openvpn_dir"] = str(tmp_path / "openvpn")
    salt_mods["hypervisor_pillar.settings"].return_value = hv_views.build(
        pillar, layered_parameters("Debian"), "hyp1"
    )
    pem = self_signed_pem()
    (tmp_path / "openvpn" / "tls").mkdir(parents=True)
    (tmp_path / "openvpn" / "tls" / "host.crt").write_text(pem)
    real_read = peer_keys.hv_runtime.read_text
    elsewhere = {"/root/.ssh/id_ed25519_hv.pub": MIGRATION_KEY}
    read = create_autospec(real_read, side_effect=lambda path: elsewhere.get(path) or real_read(path))
    monkeypatch.setattr(peer_keys.hv_runtime, "read_text", read)
    assert peer_keys.public(host_key=str(tmp_path / "none.pub"), gluster_cert=str(tmp_path / "none.pem")) == {
        "host_key": None,
        "migration_key": MIGRATION_KEY,
        "tunnel_fingerprint": peer_keys.parse_fingerprint(pem),
        "gluster_cert": None,
        "sanlock_fire_timeout": None,
    }
    assert {c.args[0] for c in read.call_args_list} == {
        str(tmp_path / "none.pub"),
        "/root/.ssh/id_ed25519_hv.pub",
        str(tmp_path / "openvpn" / "tls" / "host.crt"),
        str(tmp_path / "none.pem"),
    }


def test_public_refuses_a_certificate_that_is_not_one(tmp_path):
    (tmp_path / "host.crt").write_text("-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n")
    with pytest.raises(CommandExecutionError, match=r"host.crt is not a PEM certificate"):
        peer_keys.public(
            host_key=str(tmp_path / "none.pub"),
            migration_key=str(tmp_path / "none.pub"),
            tunnel_cert=str(tmp_path / "host.crt"),
        )


def test_gluster_ca_is_every_hosts_certificate_in_order(tmp_path, salt_mods, monkeypatch):
    """This host's from its file, the others' from the mine; a host without one: what to run."""
    own, other = self_signed_pem(), self_signed_pem()
    (tmp_path / "glusterfs.pem").write_text(own)
    paths = ("/nonexistent/key.pub", "/nonexistent/host.crt", str(tmp_path / "glusterfs.pem"))
    monkeypatch.setattr(peer_keys, "_default_paths", lambda: paths)  # gluster:tls_dir's file
    monkeypatch.setattr(peer_keys, "__grains__", {"id": "hyp1"}, raising=False)
    salt_mods["mine.get"].side_effect = lambda tgt, fun: (
        {"hyp2": dict(HYP2, gluster_cert=other)}.get(tgt) and {tgt: dict(HYP2, gluster_cert=other)}
    )
    assert peer_keys.gluster_ca("hyp2", "hyp1") == other + own.strip() + "\n"
    with pytest.raises(CommandExecutionError, match=r"gluster_cert of arb1 is missing: run `salt arb1 state"):
        peer_keys.gluster_ca("hyp1", "arb1")


# ------------------------------------------------------------------ a peer's entry


def test_peer_entry_from_the_mine(salt_mods):
    salt_mods["mine.get"].return_value = {"hyp2": HYP2}
    assert peer_keys.peer("hyp2") == HYP2
    salt_mods["mine.get"].assert_called_once_with("hyp2", "hv_peer_keys")


def test_peer_not_in_the_mine(salt_mods):
    assert peer_keys.peer("hyp2") is None


def test_get_one_item(salt_mods):
    salt_mods["mine.get"].return_value = {"hyp2": HYP2}
    assert peer_keys.get("hyp2", "tunnel_fingerprint") == FINGERPRINT
    assert peer_keys.get("hyp2", "migration_key") == MIGRATION_KEY


def test_known_host_splits_type_and_key(salt_mods):
    salt_mods["mine.get"].return_value = {"hyp2": HYP2}
    assert peer_keys.known_host("hyp2") == {
        "enc": "ssh-ed25519",
        "key": "AAAAC3NzaC1lZDI1NTE5AAAAIDrcbScsYQXxRV16QkqECQzPOstqOYwKBPLqL3XgC+Pu",
    }


@pytest.mark.parametrize(
    ("item", "says"),
    [
        (
            "host_key",
            "host_key of hyp2 is missing: it needs an SSH host key /etc/ssh/ssh_host_ed25519_key.pub",
        ),
        ("migration_key", "migration_key of hyp2 is missing: run `salt hyp2 state.apply peers.published`"),
        (
            "tunnel_fingerprint",
            "tunnel_fingerprint of hyp2 is missing: run `salt hyp2 state.apply peers.published`",
        ),
    ],
)
def test_missing_item_names_host_and_what_to_run(salt_mods, item, says):
    salt_mods["mine.get"].return_value = {"hyp2": dict(HYP2, **{item: None})}
    with pytest.raises(CommandExecutionError) as raised:
        peer_keys.get("hyp2", item)
    assert str(raised.value).startswith(says)


def test_peer_absent_is_missing_every_item(salt_mods):
    with pytest.raises(CommandExecutionError, match=r"^host_key of hyp2 is missing"):
        peer_keys.known_host("hyp2")


def test_unknown_item(salt_mods):
    with pytest.raises(CommandExecutionError, match=r"unknown item 'password'"):
        peer_keys.get("hyp2", "password")
    salt_mods["mine.get"].assert_not_called()


def test_write_public_key_rebuilds_the_lost_public_half(tmp_path, salt_mods):
    """The real ssh-keygen: a key pair whose .pub is gone gets it back, the same key, 0644."""
    import pwd

    import salt.modules.cmdmod

    key = tmp_path / "id_ed25519_hv"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hv", "-f", str(key)], check=True)
    public = (tmp_path / "id_ed25519_hv.pub").read_text().split()[:2]
    (tmp_path / "id_ed25519_hv.pub").unlink()
    salt_mods["cmd.run_all"] = create_autospec(
        salt.modules.cmdmod.run_all, side_effect=lambda cmd, **kw: _run_all(cmd)
    )
    user = pwd.getpwuid(key.stat().st_uid).pw_name
    assert peer_keys.write_public_key(str(key), user) == f"{key}.pub"
    written = tmp_path / "id_ed25519_hv.pub"
    assert written.read_text().split()[:2] == public and written.stat().st_mode & 0o777 == 0o644


def test_write_public_key_of_no_key_is_refused(tmp_path, salt_mods):
    import salt.modules.cmdmod

    salt_mods["cmd.run_all"] = create_autospec(
        salt.modules.cmdmod.run_all, side_effect=lambda cmd, **kw: _run_all(cmd)
    )
    with pytest.raises(CommandExecutionError, match="ssh-keygen -y -f"):
        peer_keys.write_public_key(str(tmp_path / "none"), "root")
    assert not (tmp_path / "none.pub").exists()


def _run_all(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return {"retcode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
