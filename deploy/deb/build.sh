#!/bin/sh
# The Debian package, made with plain dpkg-deb (no debhelper): `make deb` runs
#   deploy/deb/build.sh WHEELDIR OUTDIR
# WHEELDIR holds the apim-probe wheel, its dependencies' wheels and pip's own
# (`pip wheel -w WHEELDIR . pip`); PYTHON (default python3, >= 3.11) installs
# them with pip run from its wheel, as the Containerfile does.
#
# Layout, as the image and `make install` have it: the agent and its
# dependencies in /opt/apim-probe (`pip install --target`, no venv: nothing in
# it points at the build host), started by /opt/apim-probe/bin/probe, a
# launcher for Debian's /usr/bin/python3 (the package Depends on python3 >=
# 3.11; psutil's only compiled module is abi3, so any such python3 runs it);
# /usr/bin/probe links to it; the units in /lib/systemd/system; the safe
# default config as the conffile /etc/apim-probe/probe.toml. Byte code is
# compiled by postinst for the python3 that is installed, and removed by prerm.
set -eu

wheels=$(realpath "$1")
out=$(realpath "$2")
python=${PYTHON:-python3}
case $python in */*) python=$(realpath -s "$python") ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/deploy/deb

version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/probe/__init__.py")
# PEP 440 pre-releases sort before the release in Debian only with a tilde.
debversion=$(echo "$version" | sed -E 's/(a|b|rc|\.dev)([0-9]+)$/~\1\2/')
arch=$(dpkg --print-architecture)
deb=$out/apim-probe_${version}_${arch}.deb

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
opt=$stage/opt/apim-probe

set -- "$wheels"/pip-*.whl
[ -f "$1" ] || { echo "build.sh: no pip wheel in $wheels" >&2; exit 1; }
"$python" "$1/pip" install --quiet --no-index --no-compile --no-warn-script-location \
    --root-user-action=ignore --find-links "$wheels" --target "$opt" apim-probe

# What the image drops too (Containerfile, build stage): scapy's layers the agent
# never loads, its contrib layers, tools, man pages; tests; pip's scripts
# (their shebangs name the build host's python).
cd "$opt"
rm -rf bin scapy/contrib scapy/tools share
PYTHONPATH=$opt "$python" -B "$root/deploy/container/trim_scapy.py" "$opt" >/dev/null
find . -depth \( -name __pycache__ -o -name tests -o -name test \) -type d -exec rm -rf {} +
if find . -name '*.so' ! -name '*.abi3.so' | grep .; then
    echo "build.sh: extension modules above are not abi3: the package would need one python3" >&2
    exit 1
fi
install -d -m 0755 bin
install -m 0755 "$here/probe" bin/probe

install -d -m 0755 "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/apim-probe" \
    "$stage/DEBIAN"
ln -s /opt/apim-probe/bin/probe "$stage/usr/bin/probe"
install -m 0644 "$root"/systemd/apim-probe.service "$root"/systemd/apim-probe-textfile.service \
    "$root"/systemd/apim-probe-textfile.timer "$stage/lib/systemd/system/"
install -m 0644 "$root/deploy/default/probe.toml" "$stage/etc/apim-probe/probe.toml"

cd "$stage"
find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum \
    > DEBIAN/md5sums
echo /etc/apim-probe/probe.toml > DEBIAN/conffiles
for script in postinst prerm postrm; do install -m 0755 "$here/$script" DEBIAN/; done
size=$(du -sk --exclude=DEBIAN . | cut -f1)
sed -e "s/@VERSION@/$debversion/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    "$here/control" > DEBIAN/control

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb: $(du -k "$deb" | cut -f1) KiB, installed $size KiB"
