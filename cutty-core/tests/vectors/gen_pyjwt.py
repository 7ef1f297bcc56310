#!/usr/bin/env python3
"""PyJWT interoperability vectors for cutty_core::token.

Two directions:

  gen_pyjwt.py generate     tokens made by PyJWT -> pyjwt_tokens.json (read by tests/pyjwt.rs)
  gen_pyjwt.py check-cutty  tokens made by Cutty (cutty_tokens.json, written by
                            `CUTTY_WRITE_VECTORS=1 cargo test -p cutty-core --test pyjwt`)
                            are verified with PyJWT; the result goes to
                            cutty_tokens_pyjwt_check.txt.
  gen_pyjwt.py new-keys     regenerate the TEST-ONLY keys in keys/ (then run generate).

Scratch environment (not committed):
  python3 -m venv /tmp/pyjwt && /tmp/pyjwt/bin/pip install pyjwt cryptography
  /tmp/pyjwt/bin/python cutty-core/tests/vectors/gen_pyjwt.py generate

Every key in keys/ and the HMAC secret below are TEST KEYS, published on purpose. Never use
them for anything else.
"""

import base64
import hashlib
import hmac
import json
import pathlib
import sys

import cryptography
import jwt

HERE = pathlib.Path(__file__).resolve().parent
KEYS = HERE / "keys"

# TEST-ONLY HMAC secret (published; 44 bytes).
HS_SECRET = b"cutty-pyjwt-TEST-ONLY-secret-not-for-production"
OTHER_SECRET = b"some-other-TEST-ONLY-secret-of-enough-length!!"

NOW = 1_800_000_000  # the vectors' time, Unix seconds
NOW_MS = NOW * 1000
ISS = "cutty"
JTI = "7d3c8c2e-5a8e-4a43-9f57-2b7b1c1d6e01"
FAM = "5f0b8a57-2e0c-4f0a-b0cf-6f0a4c9f2d42"


def key(name):
    return (KEYS / name).read_bytes()


def claims(**over):
    c = {
        "sub": "42",
        "jti": JTI,
        "iat": NOW,
        "exp": NOW + 900,
        "iss": ISS,
        "type": "access",
        "fam": FAM,
    }
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_raw(header, payload, secret):
    """Signs with HMAC-SHA256 by hand (PyJWT refuses a PEM as an HMAC secret, as it should)."""
    msg = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(payload, separators=(",", ":")).encode()
    )
    sig = hmac.new(secret, msg.encode(), hashlib.sha256).digest()
    return msg + "." + b64(sig)


def generate():
    rsa_priv = key("test_rsa_private.pem")
    rsa_pub = key("test_rsa_public.pem")
    ec_priv = key("test_ec_p256_private.pem")
    ed_priv = key("test_ed25519_private.pem")

    vectors = []

    def add(name, token, keyring, expect, kind="access", now_ms=NOW_MS, note=""):
        vectors.append(
            {
                "name": name,
                "token": token,
                "keyring": keyring,
                "expect_type": kind,
                "now_ms": now_ms,
                "expect": expect,
                "note": note,
            }
        )

    # Valid tokens, one per algorithm.
    hs_ok = jwt.encode(claims(), HS_SECRET, algorithm="HS256")
    add("hs256_access", hs_ok, "hs256", "ok")
    add("hs256_refresh", jwt.encode(claims(type="refresh", exp=NOW + 604800), HS_SECRET, algorithm="HS256"),
        "hs256", "ok", kind="refresh")
    add("hs256_with_iat_ms", jwt.encode(claims(iat_ms=NOW_MS + 123), HS_SECRET, algorithm="HS256"), "hs256", "ok")
    add("hs256_past_nbf_extra_claims",
        jwt.encode(claims(nbf=NOW - 10, aud="ignored", extra={"a": [1, 2]}), HS_SECRET, algorithm="HS256"),
        "hs256", "ok")
    add("hs256_within_leeway_after_exp", hs_ok, "hs256", "ok", now_ms=(NOW + 900 + 29) * 1000)
    add("rs256_access", jwt.encode(claims(), rsa_priv, algorithm="RS256", headers={"kid": "test-rsa"}), "rs256", "ok")
    add("ps256_access", jwt.encode(claims(), rsa_priv, algorithm="PS256", headers={"kid": "test-rsa"}), "ps256", "ok")
    add("es256_access", jwt.encode(claims(), ec_priv, algorithm="ES256", headers={"kid": "test-ec"}), "es256", "ok")
    add("eddsa_access", jwt.encode(claims(), ed_priv, algorithm="EdDSA", headers={"kid": "test-ed"}), "eddsa", "ok")

    # Attacks and faults.
    add("alg_none", jwt.encode(claims(), None, algorithm="none"), "hs256", "AUTH_001/AlgorithmNotAllowed")
    add("alg_none_against_rsa", jwt.encode(claims(), None, algorithm="none"), "rs256",
        "AUTH_001/AlgorithmNotAllowed")
    add("hs256_signed_with_rsa_public_key_pem",
        hs256_raw({"alg": "HS256", "typ": "JWT", "kid": "test-rsa"}, claims(), rsa_pub),
        "rs256", "AUTH_001/AlgorithmNotAllowed", note="algorithm confusion")
    add("hs256_signed_with_rsa_public_key_pem_no_kid",
        hs256_raw({"alg": "HS256", "typ": "JWT"}, claims(), rsa_pub),
        "rs256", "AUTH_001/AlgorithmNotAllowed", note="algorithm confusion")
    add("hs512_not_allowed", jwt.encode(claims(), HS_SECRET + HS_SECRET, algorithm="HS512"), "hs256",
        "AUTH_001/AlgorithmNotAllowed")
    add("es256_against_rs256_keyring",
        jwt.encode(claims(), ec_priv, algorithm="ES256", headers={"kid": "test-rsa"}), "rs256",
        "AUTH_001/AlgorithmNotAllowed")
    h, p, s = hs_ok.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    tampered["sub"] = "1"
    add("tampered_payload", h + "." + b64(json.dumps(tampered, separators=(",", ":")).encode()) + "." + s,
        "hs256", "AUTH_001/BadSignature")
    add("tampered_signature", h + "." + p + "." + ("A" if s[0] != "A" else "B") + s[1:], "hs256",
        "AUTH_001/BadSignature")
    add("wrong_secret", jwt.encode(claims(), OTHER_SECRET, algorithm="HS256"), "hs256", "AUTH_001/BadSignature")
    rs_ok = jwt.encode(claims(), rsa_priv, algorithm="RS256", headers={"kid": "test-rsa"})
    h, p, s = rs_ok.split(".")
    add("rs256_tampered_payload",
        h + "." + b64(json.dumps(tampered, separators=(",", ":")).encode()) + "." + s, "rs256",
        "AUTH_001/BadSignature")
    add("unknown_kid", jwt.encode(claims(), rsa_priv, algorithm="RS256", headers={"kid": "retired"}), "rs256",
        "AUTH_001/UnknownKey")
    add("not_a_jwt", "not.a.jwt", "hs256", "AUTH_001/Malformed")
    add("two_segments", h + "." + p, "hs256", "AUTH_001/Malformed")
    add("wrong_iss", jwt.encode(claims(iss="evil"), HS_SECRET, algorithm="HS256"), "hs256", "AUTH_001/WrongIssuer")
    add("missing_iss", jwt.encode(claims(iss=None), HS_SECRET, algorithm="HS256"), "hs256", "AUTH_001/WrongIssuer")
    add("refresh_as_access", jwt.encode(claims(type="refresh"), HS_SECRET, algorithm="HS256"), "hs256",
        "AUTH_001/WrongType")
    add("access_as_refresh", hs_ok, "hs256", "AUTH_001/WrongType", kind="refresh")
    add("missing_type", jwt.encode(claims(type=None), HS_SECRET, algorithm="HS256"), "hs256", "AUTH_001/WrongType")
    add("missing_jti", jwt.encode(claims(jti=None), HS_SECRET, algorithm="HS256"), "hs256", "AUTH_001/MissingClaim")
    add("missing_fam", jwt.encode(claims(fam=None), HS_SECRET, algorithm="HS256"), "hs256", "AUTH_001/MissingClaim")
    add("expired", jwt.encode(claims(iat=NOW - 2000, exp=NOW - 1000), HS_SECRET, algorithm="HS256"), "hs256",
        "AUTH_002")
    add("expired_beyond_leeway", hs_ok, "hs256", "AUTH_002", now_ms=(NOW + 900 + 30) * 1000)
    add("future_nbf", jwt.encode(claims(nbf=NOW + 120), HS_SECRET, algorithm="HS256"), "hs256",
        "AUTH_001/NotYetValid")
    add("future_iat", jwt.encode(claims(iat=NOW + 120, exp=NOW + 1020), HS_SECRET, algorithm="HS256"), "hs256",
        "AUTH_001/NotYetValid")

    out = {
        "generator": "cutty-core/tests/vectors/gen_pyjwt.py",
        "pyjwt": jwt.__version__,
        "cryptography": cryptography.__version__,
        "hs256_secret_utf8": HS_SECRET.decode(),
        "kids": {"rs256": "test-rsa", "ps256": "test-rsa", "es256": "test-ec", "eddsa": "test-ed"},
        "vectors": vectors,
    }
    (HERE / "pyjwt_tokens.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(vectors)} vectors")


def check_cutty():
    data = json.loads((HERE / "cutty_tokens.json").read_text())
    keys = {
        "hs256": (HS_SECRET, ["HS256"]),
        "rs256": (key("test_rsa_public.pem"), ["RS256"]),
        "ps256": (key("test_rsa_public.pem"), ["PS256"]),
        "es256": (key("test_ec_p256_public.pem"), ["ES256"]),
        "eddsa": (key("test_ed25519_public.pem"), ["EdDSA"]),
    }
    lines = [f"PyJWT {jwt.__version__}, cryptography {cryptography.__version__}"]
    failures = 0
    for t in data["tokens"]:
        k, algs = keys[t["keyring"]]
        try:
            # PyJWT reads the system clock for exp/nbf/iat, so its time checks are off here
            # and the times are checked below against the vector's own time.
            c = jwt.decode(
                t["token"],
                k,
                algorithms=algs,
                issuer="cutty",
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "require": ["sub", "jti", "iat", "exp", "iss"]},
            )
            now = t["now_ms"] // 1000
            assert c["iat"] <= now < c["exp"], "times"
            assert c["type"] == t["type"], "type"
            assert c["sub"] == t["sub"], "sub"
            assert c["iat_ms"] // 1000 == c["iat"], "iat_ms"
            header = jwt.get_unverified_header(t["token"])
            assert header.get("kid") == t.get("kid"), "kid"
            # The check can fail: the same token under another HMAC secret must not verify.
            if t["keyring"] == "hs256":
                try:
                    jwt.decode(t["token"], OTHER_SECRET, algorithms=["HS256"],
                               options={"verify_exp": False, "verify_iat": False})
                    raise AssertionError("verified under the wrong secret")
                except jwt.InvalidSignatureError:
                    pass
            lines.append(f"ok   {t['name']}")
        except Exception as e:  # noqa: BLE001 - report every failure
            failures += 1
            lines.append(f"FAIL {t['name']}: {type(e).__name__}: {e}")
    lines.append(f"{len(data['tokens']) - failures}/{len(data['tokens'])} Cutty tokens verified by PyJWT")
    (HERE / "cutty_tokens_pyjwt_check.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(1 if failures else 0)


def new_keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    KEYS.mkdir(exist_ok=True)
    pairs = {
        "test_rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "test_ec_p256": ec.generate_private_key(ec.SECP256R1()),
        "test_ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    for name, priv in pairs.items():
        (KEYS / f"{name}_private.pem").write_bytes(
            priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()))
        (KEYS / f"{name}_public.pem").write_bytes(
            priv.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo))
    (KEYS / "README.md").write_text(
        "# TEST-ONLY keys\n\nGenerated by `gen_pyjwt.py new-keys` for the PyJWT interop vectors and unit\n"
        "tests. They are public: never use them for anything but tests.\n")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "generate"
    {"generate": generate, "check-cutty": check_cutty, "new-keys": new_keys}[cmd]()
