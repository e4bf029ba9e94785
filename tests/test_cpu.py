"""Tests for catdog.runtime.cpu: the class name each feature set gets, and this host's description."""

from __future__ import annotations

from catdog.runtime.cpu import classify_cpu, describe_cpu


def test_classes_follow_the_int8_dot_product_features():
    assert classify_cpu("x86-64", ["avx2", "avx512f", "avx512bw", "avx512_vnni"]) == "x86-64 avx512_vnni"
    assert classify_cpu("x86-64", ["avx2", "avx512f"]) == "x86-64 avx2"
    assert classify_cpu("x86-64", []) == "x86-64"
    assert classify_cpu("aarch64", ["asimd", "asimddp"]) == "aarch64 asimddp"
    assert classify_cpu("aarch64", ["asimd"]) == "aarch64"


def test_this_host_is_described_with_its_class_among_its_features():
    cpu = describe_cpu()
    assert cpu["class"].startswith(cpu["architecture"])
    assert cpu["model"]
    suffix = cpu["class"][len(cpu["architecture"]):].strip()
    assert not suffix or suffix in cpu["features"]
