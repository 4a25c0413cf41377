"""RFC 9162 Merkle trees: every inclusion and consistency proof verifies, and tampering fails."""

from __future__ import annotations

import hashlib

from libs.platform.audit import merkle

LEAVES = [merkle.leaf_hash(f"event {i}".encode()) for i in range(33)]


def test_the_root_follows_the_rfc_definition_for_small_trees():
    a, b, c = LEAVES[:3]
    node = lambda x, y: hashlib.sha256(b"\x01" + x + y).digest()  # noqa: E731
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.root([a]) == a
    assert merkle.root([a, b]) == node(a, b)
    assert merkle.root([a, b, c]) == node(node(a, b), c)
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()


def test_every_inclusion_proof_verifies_and_a_wrong_leaf_or_root_does_not():
    for n in range(1, 34):
        tree, r = LEAVES[:n], merkle.root(LEAVES[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(i, tree)
            assert merkle.verify_inclusion(i, n, tree[i], proof, r)
            assert not merkle.verify_inclusion(i, n, merkle.leaf_hash(b"forged"), proof, r)
            if n > 1:
                assert not merkle.verify_inclusion((i + 1) % n, n, tree[i], proof, r)


def test_every_consistency_proof_verifies_and_a_rewritten_history_does_not():
    for n in range(1, 34):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, LEAVES[:n])
            first, second = merkle.root(LEAVES[:m]), merkle.root(LEAVES[:n])
            assert merkle.verify_consistency(m, n, first, second, proof), (m, n)
            if m < n:
                rewritten = [merkle.leaf_hash(b"rewritten"), *LEAVES[1:m]]
                assert not merkle.verify_consistency(m, n, merkle.root(rewritten), second, proof)
