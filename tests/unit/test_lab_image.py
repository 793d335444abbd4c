"""The lab image's pip settings for the minion's install inside it: taken from this
machine's own pip configuration (``pip config list``), only what the image can use."""

from lab import image


def test_http_indexes_proxy_and_ca_bundle_are_kept_file_indexes_are_not(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    listing = "\n".join(
        [
            "global.index-url='https://mirror.example/simple'",
            "global.extra-index-url='file:///opt/pypi/simple https://more.example/simple'",
            "global.find-links='/opt/wheels'",
            "global.trusted-host='mirror.example'",
            f"global.cert='{bundle}'",
            "global.constraint='/etc/xdg/pip/constraints.txt'",
            ":env:.default-timeout='180'",
        ]
    )
    env, binds = image.pip_index_of(listing, {"https_proxy": "http://proxy.example:3128", "HOME": "/root"})
    assert env == {
        "PIP_INDEX_URL": "https://mirror.example/simple",
        "PIP_EXTRA_INDEX_URL": "https://more.example/simple",
        "PIP_TRUSTED_HOST": "mirror.example",
        "PIP_CERT": image.PIP_CERT_IN_IMAGE,
        "https_proxy": "http://proxy.example:3128",
    }
    assert binds == [(bundle.resolve(), image.PIP_CERT_IN_IMAGE, True)]


def test_nothing_configured_leaves_pips_own_default():
    assert image.pip_index_of("", {}) == ({}, [])


def test_a_ca_bundle_that_is_not_there_is_not_bound(tmp_path):
    env, binds = image.pip_index_of(f"global.cert='{tmp_path / 'absent.pem'}'", {})
    assert (env, binds) == ({}, [])


def test_each_release_has_its_own_image_and_packages():
    assert image.image_dir("trixie").name.startswith("trixie-")
    assert image.image_dir("bookworm").name.startswith("bookworm-")
    assert image.image_key("trixie") != image.image_key("bookworm")
    assert "libvirt-daemon-plugin-sanlock" in image.product_packages("trixie")
    assert "libvirt-sanlock" in image.product_packages("bookworm")
