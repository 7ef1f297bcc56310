#!/usr/bin/env bash
# Writes seed corpora for every fuzz target into fuzz/corpus/<target>/ (git-ignored), from
# the committed vectors in cutty-core/tests/vectors/ plus a few hand-written inputs.
# Needs python3 (standard library only). Idempotent: seeds are named after their content.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" <<'PY'
import base64, hashlib, json, os, sys

fuzz = sys.argv[1]
vectors = os.path.join(fuzz, "..", "cutty-core", "tests", "vectors")
corpus = os.path.join(fuzz, "corpus")

def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

def load(name):
    with open(os.path.join(vectors, name)) as f:
        return json.load(f)

def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

# JWTs: PyJWT's vectors (valid and attacks) and Cutty's own tokens.
tokens = [v["token"] for v in load("pyjwt_tokens.json")["vectors"]]
tokens += [t["token"] for t in load("cutty_tokens.json")["tokens"]]
for t in tokens:
    seed("jwt_verify", b"\x00" + t.encode())               # mode 0: as text
    seed("auth_header", "Bearer " + t)
    parts = t.split(".")
    if len(parts) == 3:
        try:                                             # mode 2: header NUL payload, re-signed
            seed("jwt_verify", b"\x02" + b64d(parts[0]) + b"\x00" + b64d(parts[1]))
        except Exception:
            pass
for pick in range(4):
    seed("jwt_verify", bytes([1, pick]))                  # mode 1: unedited valid token
    seed("jwt_verify", bytes([1, pick | 0x80, 5, 0, 0x41]))
    seed("jwt_verify", bytes([3, pick]) + (1_800_000_000_000).to_bytes(8, "little", signed=True))

# Django hash strings: every committed encoding, as "password\nencoded".
for name in ("django_passwords.json", "django42_passwords.json", "cutty_made_hashes.json"):
    path = os.path.join(vectors, name)
    if not os.path.exists(path):
        continue
    doc = load(name)
    items = doc.get("vectors") or doc.get("hashes") or []
    for v in items:
        enc = v.get("encoded")
        if isinstance(enc, str):
            seed("password_verify", (v.get("password") or "password") + "\n" + enc)
            seed("password_verify", "wrong\n" + enc)
for enc in ("!unusable", "pbkdf2_sha256$9999999$salt$aGFzaA==", "md5$$" + "0" * 32, "0" * 32,
            "argon2$argon2id$v=19$m=1048576,t=4,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            "scrypt$1048576$salt$8$1$" + "A" * 88, "bcrypt$$2b$16$" + "a" * 53):
    seed("password_verify", "password\n" + enc)

# API keys and Authorization headers.
keys = ["cutty_0123456789abcdefghijklmnopqrstuv", "cutty_", "cutty_short"]
for k in keys:
    seed("api_key_parse", k)
    seed("auth_header", "Bearer " + k)
seed("api_key_parse", bytes(range(10)))
for h in ("bearer x", "BEARER  eyJ.e30.x", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b",
          "Bearer realm=\"x\"", " Bearer abc== "):
    seed("auth_header", h)

# Client IP: flags (bit0 v6 peer, bit1 CF, bit2 XFF, bit3 X-Real-IP), peer, headers.
v4 = lambda a: bytes(int(x) for x in a.split("."))
seed("client_ip", bytes([0b1110]) + v4("10.0.0.1") + b"203.0.113.5\n198.51.100.1, 10.0.0.2\n192.0.2.9")
seed("client_ip", bytes([0b0100]) + v4("192.168.1.1") + b"\n1.2.3.4, [2001:db8::1]:443, 10.1.1.1, 127.0.0.1\n")
seed("client_ip", bytes([0b1111]) + bytes(15) + b"\x01" + b"::ffff:1.2.3.4\n1.1.1.1:8080\n[::1]")
seed("client_ip", bytes([0b1110]) + v4("8.8.8.8") + b"1.2.3.4\n5.6.7.8\n9.9.9.9")

# Events query strings.
for q in ("event_type=login&success=false&limit=10",
          "since=0&until=100&cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "ip_address=::ffff:192.0.2.1&user_id=-5&limit=500",
          "limit=0&limit=1&event_type=LOGIN&success=True&since=5&until=4&user_id=+1",
          "event_type=refresh_reuse&ip_address=2001:db8::1&since=-9223372036854775808"):
    seed("events_query", q)

# Trusted-proxy lists and block-list addresses.
for l in ("10.0.0.0/8, 172.16.0.0/12, ::1", "::ffff:10.0.0.0/104,", "10.1.2.3/8", ",,,  ,",
          "0.0.0.0/0, ::/0", "fe80::1%eth0"):
    seed("trusted_proxies", l)
for a in ("192.0.2.1", " 10.0.0.0/8 ", "10.1.2.3/8", "::ffff:192.0.2.0/120", "2001:db8::/32",
          "1.2.3.4/33", "::/0", "::ffff:0:0/96"):
    seed("ip_or_cidr", a)

# CSV lists: option bytes (dedupe, columns, split; which of a/b/c/x) then the CSV.
csvs = [
    b"a,b,c\n1,2,3\n1,2,3\n4,5\n6,7,8\n",
    b"\xef\xbb\xbfa,b\r\n\"q,1\",\"x\"\"y\"\r\n\r\n2,\"multi\nline\"\r\n",
    b"a,a,b\n1,2,3\n",
    b"x\n\"\"\n\n\xff\n",
    b"a,b\n\xc3,\xa9\n\xc3\xa9,ok\n",
    b"",
    b"\xef\xbb\xbf",
    b"c,b,a\n" + b"".join(b"%d,%d,%d\n" % (i % 7, i % 3, i) for i in range(60)),
]
for body in csvs:
    for flags, pick in ((0, 0), (1, 0), (2, 0b0011), (3, 0b10110), (1 | (2 << 2), 0), (3 | (1 << 2), 0b1000)):
        seed("csv_process", bytes([flags, pick]) + body)

for t in sorted(os.listdir(corpus)):
    print(f"corpus {t}: {len(os.listdir(os.path.join(corpus, t)))} files")
PY
