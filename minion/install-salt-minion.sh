#!/bin/sh
# Install the Salt minion as this project runs it, on a bare Debian 13, Debian 12
# or EL 9 host: Salt from PyPI in its own venv (default /opt/salt), run by systemd.
# A C compiler and Python's headers come first: some of Salt's dependencies have
# no wheel for every Python (timelib), and pip builds them here.
# The states install everything else, the Python libraries of the custom
# modules included, into that same venv.
#
#   sh install-salt-minion.sh [--no-start] [MASTER MINION_ID]
#
# MASTER and MINION_ID go to /etc/salt/minion.d/hypervisor.conf, with
# MASTER_FINGER (the master's public key fingerprint, `salt-key -F master` on
# the master) when it is set: the minion then trusts that master only. pip
# reads its index from the host's own pip configuration (or PIP_* variables).
# salt-call and salt-minion are linked into /usr/local/bin.
set -eu

SALT_VERSION=${SALT_VERSION:-3008.4}
VENV=${SALT_VENV:-/opt/salt}
HERE=$(cd "$(dirname "$0")" && pwd)
start=yes
if [ "${1:-}" = "--no-start" ]; then start=no; shift; fi

if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3-venv python3-dev gcc libc6-dev
else
    dnf install -y -q python3 python3-devel gcc
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "salt==$SALT_VERSION"

sed "s|@VENV@|$VENV|g" "$HERE/salt-minion.service" > /etc/systemd/system/salt-minion.service
chmod 0644 /etc/systemd/system/salt-minion.service
for command in salt-call salt-minion; do
    ln -sf "$VENV/bin/$command" "/usr/local/bin/$command"
done
mkdir -p /etc/salt/minion.d
if [ $# -ge 2 ]; then
    printf 'master: %s\nid: %s\n' "$1" "$2" > /etc/salt/minion.d/hypervisor.conf
    finger=${MASTER_FINGER:-}
    if [ -n "$finger" ]; then
        if ! printf '%s' "$finger" | grep -Eqx '([0-9a-f]{2}:){31}[0-9a-f]{2}|([0-9a-f]{2}:){15}[0-9a-f]{2}'; then
            echo "MASTER_FINGER is not a key fingerprint (aa:bb:...): $finger" >&2
            exit 2
        fi
        printf 'master_finger: "%s"\n' "$finger" >> /etc/salt/minion.d/hypervisor.conf
    fi
fi
systemctl enable salt-minion.service
if [ "$start" = yes ]; then
    systemctl restart salt-minion.service
fi
echo "salt-minion $SALT_VERSION installed in $VENV"
