"""The pure parts of the stand-in guests and the network bench: output parsers,
names, and how the bench tells the transport and the pillar's choice."""

import json
from pathlib import Path

import pytest
import yaml

from bench import network_throughput as bench
from tests.lab import standins

FIXTURES = Path(__file__).parent / "fixtures" / "network"

PING_OK = """PING 192.0.2.202 (192.0.2.202) 56(84) bytes of data.

--- 192.0.2.202 ping statistics ---
20 packets transmitted, 19 received, 5% packet loss, time 3805ms
rtt min/avg/max/mdev = 0.105/0.158/0.491/0.082 ms
"""
PING_NONE = """PING 192.0.2.99 (192.0.2.99) 56(84) bytes of data.

--- 192.0.2.99 ping statistics ---
2 packets transmitted, 0 received, 100% packet loss, time 1015ms

"""
PING_ERRORS = """PING 203.0.113.77 (203.0.113.77) 56(84) bytes of data.
From 203.0.113.2 icmp_seq=1 Destination Host Unreachable

--- 203.0.113.77 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2030ms
pipe 3
"""

# arping 2.23 (Thomas Habets; Debian package arping), as run in the lab.
ARPING_HABETS = """ARPING 192.0.2.202
42 bytes from 26:61:f8:e1:62:82 (192.0.2.202): index=0 time=9.898 usec
42 bytes from 26:61:f8:e1:62:82 (192.0.2.202): index=1 time=6.944 usec

--- 192.0.2.202 statistics ---
2 packets transmitted, 2 packets received,   0% unanswered (0 extra)
rtt min/avg/max/std-dev = 0.007/0.008/0.010/0.001 ms
"""
# Two machines claim the address (a proxy ARP answer besides the owner's).
ARPING_TWO = """ARPING 203.0.113.101
42 bytes from 2:0:c6:33:64:b (203.0.113.101): index=0 time=10.1 usec
42 bytes from 26:61:F8:E1:62:82 (203.0.113.101): index=1 time=812.5 msec
42 bytes from 02:00:c6:33:64:0b (203.0.113.101): index=2 time=8.0 usec

--- 203.0.113.101 statistics ---
2 packets transmitted, 3 packets received,   0% unanswered (1 extra)
"""
ARPING_NONE = """ARPING 192.0.2.99
Timeout
Timeout

--- 192.0.2.99 statistics ---
2 packets transmitted, 0 packets received, 100% unanswered (0 extra)
"""
# iputils-arping.
ARPING_IPUTILS = """ARPING 192.0.2.202 from 192.0.2.201 eth0
Unicast reply from 192.0.2.202 [26:61:F8:E1:62:82]  0.712ms
Unicast reply from 192.0.2.202 [26:61:F8:E1:62:82]  0.655ms
Sent 2 probes (1 broadcast(s))
Received 2 response(s)
"""


def test_ping_summary_with_rtt():
    result = standins.parse_ping(PING_OK)
    assert (result.transmitted, result.received) == (20, 19)
    assert (result.rtt_min, result.rtt_avg, result.rtt_max) == (0.105, 0.158, 0.491)
    assert result
    assert result.loss == pytest.approx(0.05)


@pytest.mark.parametrize("text", [PING_NONE, PING_ERRORS])
def test_ping_without_reply_is_falsy(text):
    result = standins.parse_ping(text)
    assert not result
    assert result.received == 0
    assert result.rtt_avg is None
    assert result.loss == 1.0


def test_ping_without_summary_is_an_error():
    with pytest.raises(ValueError, match="no ping summary"):
        standins.parse_ping("ping: connect: Network is unreachable\n")


def test_arping_habets_one_mac_once():
    assert standins.parse_arping(ARPING_HABETS) == ["26:61:f8:e1:62:82"]


def test_arping_every_answering_mac_normalised_in_order():
    assert standins.parse_arping(ARPING_TWO) == ["02:00:c6:33:64:0b", "26:61:f8:e1:62:82"]


def test_arping_no_answer():
    assert standins.parse_arping(ARPING_NONE) == []
    assert standins.parse_arping("") == []


def test_arping_iputils_format():
    assert standins.parse_arping(ARPING_IPUTILS) == ["26:61:f8:e1:62:82"]


def test_iperf3_result_from_a_real_run():
    result = standins.parse_iperf3((FIXTURES / "iperf3_tcp.json").read_text())
    assert result.received_mbps == pytest.approx(13447.257637, rel=1e-6)
    assert result.sent_mbps == pytest.approx(13448.144406, rel=1e-6)
    assert result.retransmits == 4211
    assert result.seconds == pytest.approx(1.000912)
    assert result.reverse is False


def test_iperf3_reverse_flag():
    data = json.loads((FIXTURES / "iperf3_tcp.json").read_text())
    data["start"]["test_start"]["reverse"] = 1
    assert standins.parse_iperf3(json.dumps(data)).reverse is True


def test_iperf3_error_is_raised_with_its_message():
    error = "unable to connect to server: Connection refused"
    text = json.dumps({"start": {"connected": []}, "intervals": [], "end": {}, "error": error})
    with pytest.raises(RuntimeError, match="unable to connect to server: Connection refused"):
        standins.parse_iperf3(text)


@pytest.mark.parametrize("text", ["", "iperf3: error - unable to connect", '{"end": {}}'])
def test_iperf3_without_figures_is_an_error(text):
    with pytest.raises(RuntimeError, match="iperf3"):
        standins.parse_iperf3(text)


def test_names_fit_an_interface_name():
    assert standins.host_port("bench1") == "g-bench1"
    assert standins.host_port("a" * 13) == "g-" + "a" * 13
    assert standins.standin_ns("bench1").endswith("g-bench1")
    for bad in ("a" * 14, "a b", "a/b", ""):
        with pytest.raises(ValueError):
            standins.host_port(bad)


def test_bench_finds_the_tunnel_ports_not_the_veths():
    links = json.loads((FIXTURES / "bridge_ports.json").read_text())
    assert bench.tunnel_ports(links) == [("vxwan", "vxlan"), ("tapwan", "openvpn")]
    assert bench.tunnel_ports([]) == []


def test_bench_reads_the_served_pillar_override_first(tmp_path):
    override, lab_pillar = tmp_path / "override.sls", tmp_path / "hypervisor.sls"
    lab_pillar.write_text(yaml.safe_dump({"hypervisor": {"hosts": {}}}))
    assert bench.pillar_transport([override, lab_pillar]) == ("vxlan", lab_pillar)
    override.write_text(yaml.safe_dump({"hypervisor": {"tunnels": {"transport": "openvpn"}}}))
    assert bench.pillar_transport([override, lab_pillar]) == ("openvpn", override)


@pytest.mark.parametrize(
    ("address", "gateway"),
    [("10.0.0.5/24", None), ("192.0.2.5/24", "10.0.0.1"), ("192.0.2.5/24", "8.8.8.8")],
)
def test_a_standin_gets_lab_addresses_only(address, gateway):
    """Refused before anything is created: a stand-in never gets a way out of the lab."""
    with (
        pytest.raises(ValueError, match="documentation-range"),
        standins.standin("no-such-ns", "br0", "x", address, gateway=gateway),
    ):
        pass
