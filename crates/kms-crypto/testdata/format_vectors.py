# Known-answer vectors for Trent's persistent binding formats, computed independently of
# kms-crypto (Python `cryptography`) from the formats its module docs describe: the root-key
# wrap (`root_key.rs`) with each `WrapContext`, and a seal to a region's transport key
# (`transport.rs`) with a `SealContext`. The test `context::tests` holds the output.
# Run: python3 crates/kms-crypto/testdata/format_vectors.py
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization

root = bytes(range(32))
material = bytes(range(0xa0, 0xc0))
key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
material_id = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

def wrap(context):
    nonce = bytes(range(12))
    return bytes([1]) + nonce + AESGCM(root).encrypt(nonce, material, b"trent-wrap-v1" + context)

for name, ctx in [("material", f"{key_id}/{material_id}".encode()),
                  ("identity_secret", b"trent-identity-secret-v1/AKIAEXAMPLE"),
                  ("sts_session", b"trent-sts-session-v1")]:
    print(name, wrap(ctx).hex())

def hkdf(salt, ikm, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)

raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
recipient = X25519PrivateKey.from_private_bytes(hkdf(b"", root, b"trent-region-transport-v1"))
recipient_pub = recipient.public_key().public_bytes(*raw)
eph = X25519PrivateKey.from_private_bytes(bytes(range(0x40, 0x60)))
eph_pub = eph.public_key().public_bytes(*raw)
shared = eph.exchange(recipient.public_key())
key = hkdf(eph_pub + recipient_pub, shared, b"trent-seal-v1")
nonce = bytes(range(0x60, 0x6c))
aad = f"trent-link-v1|us-east-1|eu-west-1|{key_id}/{material_id}".encode()
print("sealed", (bytes([1]) + eph_pub + nonce + AESGCM(key).encrypt(nonce, material, aad)).hex())
print("recipient_pub", recipient_pub.hex())
