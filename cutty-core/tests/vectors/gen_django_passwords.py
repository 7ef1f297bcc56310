#!/usr/bin/env python3
"""Password-hash vectors for cutty-core, made and checked by real Django.

Two modes:

  generate (default): write Django-made hashes for every hasher Django has, each with
      Django's own verdicts (does the password match, does a wrong one, and `must_update`
      under several "preferred hasher" configurations), to --out.

      python gen_django_passwords.py --out django_passwords.json        # Django 5.2
      python gen_django_passwords.py --out django42_passwords.json      # Django 4.2

      Django 5.1 removed UnsaltedMD5PasswordHasher, so the `unsalted_md5` vectors come from
      Django 4.2 (which also has 600000 as its own default iteration count).

  check-cutty: read hashes Cutty made (written by the ignored test
      `write_cutty_made_hashes` in ../django_passwords.rs), verify every one with Django's
      `check_password`, and write the verdicts back into the same file.

      python gen_django_passwords.py --check-cutty cutty_made_hashes.json

Set up: python3 -m venv /tmp/djv && /tmp/djv/bin/pip install django argon2-cffi bcrypt
"""

import argparse
import base64
import json
import sys
import warnings

import django
from django.conf import settings

warnings.simplefilter("ignore")

HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]
if django.VERSION < (5, 1):
    HASHERS.append("django.contrib.auth.hashers.UnsaltedMD5PasswordHasher")

settings.configure(PASSWORD_HASHERS=HASHERS, USE_TZ=True)
django.setup()

from django.contrib.auth import hashers as h  # noqa: E402

PASSWORDS = [
    "password",
    "",
    "correct horse battery staple",
    "pässwörd 密码 🔑 ÅΩ",
    "$dollar$signs$in$password$",
    "tab\tnew\nline \\ quote\" nul-free",
    "x" * 72,
    "y" * 73,
    "L" * 4096,
    "🔑" * 40,
]


def pbkdf2_at(iterations):
    return type(
        "PBKDF2At%d" % iterations, (h.PBKDF2PasswordHasher,), {"iterations": iterations}
    )()


def preferred_configs():
    """Name -> hasher instance Django's verify_password() is told to prefer."""
    return {
        "django_default": h.get_hasher("default"),
        "pbkdf2_sha256@1000": pbkdf2_at(1000),
        "pbkdf2_sha256@600000": pbkdf2_at(600000),
        "pbkdf2_sha256@1000000": pbkdf2_at(1000000),
        "argon2": h.Argon2PasswordHasher(),
        "scrypt": h.ScryptPasswordHasher(),
        "bcrypt_sha256": h.BCryptSHA256PasswordHasher(),
        "bcrypt": h.BCryptPasswordHasher(),
    }


class CheapArgon2(h.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 256
    parallelism = 2


class CheapBCryptSHA256(h.BCryptSHA256PasswordHasher):
    rounds = 4


class CheapBCrypt(h.BCryptPasswordHasher):
    rounds = 4


def dj_verify(password, encoded, preferred="default"):
    """(matches, must_update) from Django: verify_password() on 5.x; on 4.2 (which lacks it)
    check_password() with a setter, which Django calls exactly when matches and must_update."""
    if hasattr(h, "verify_password"):
        return h.verify_password(password, encoded, preferred=preferred)
    called = []
    ok = h.check_password(password, encoded, setter=called.append, preferred=preferred)
    return ok, bool(called) if ok else None


def made(note, password, encoded):
    return {"note": note, "password": password, "encoded": encoded}


def generate():
    salt = h.PBKDF2PasswordHasher().salt  # Django's own salt generator
    out = []
    for i, pw in enumerate(PASSWORDS):
        out.append(made("pbkdf2_sha256 1000", pw, h.PBKDF2PasswordHasher().encode(pw, salt(), 1000)))
        out.append(made("pbkdf2_sha1 1000", pw, h.PBKDF2SHA1PasswordHasher().encode(pw, salt(), 1000)))
        out.append(made("md5", pw, h.MD5PasswordHasher().encode(pw, salt())))
        out.append(made("scrypt n=1024 r=8 p=1", pw, h.ScryptPasswordHasher().encode(pw, salt(), n=1024, r=8, p=1)))
        out.append(made("argon2 t=1 m=256 p=2", pw, CheapArgon2().encode(pw, CheapArgon2().salt())))
        out.append(made("bcrypt_sha256 rounds=4", pw, CheapBCryptSHA256().encode(pw, CheapBCryptSHA256().salt())))
        try:
            out.append(made("bcrypt rounds=4", pw, CheapBCrypt().encode(pw, CheapBCrypt().salt())))
        except ValueError:
            pass  # bcrypt >= 5 refuses passwords over 72 bytes
        if hasattr(h, "UnsaltedMD5PasswordHasher"):
            hexdigest = h.UnsaltedMD5PasswordHasher().encode(pw, "")
            out.append(made("unsalted_md5 bare", pw, hexdigest))
            out.append(made("unsalted_md5 md5$$", pw, "md5$$" + hexdigest))
        if i < 3:
            out.append(made("pbkdf2_sha256 600000", pw, h.PBKDF2PasswordHasher().encode(pw, salt(), 600000)))
    pw = "correct horse battery staple"
    # Work factors and salts that must_update flags, and Django's defaults for each hasher.
    out += [
        made("pbkdf2_sha256 1 iteration", pw, h.PBKDF2PasswordHasher().encode(pw, salt(), 1)),
        made("pbkdf2_sha256 1000000", pw, h.PBKDF2PasswordHasher().encode(pw, salt(), 1000000)),
        made("pbkdf2_sha256 600001", pw, h.PBKDF2PasswordHasher().encode(pw, salt(), 600001)),
        made("pbkdf2_sha256 short salt", pw, h.PBKDF2PasswordHasher().encode(pw, "abc", 1000)),
        made("pbkdf2_sha256 12-char salt (old Django)", pw, h.PBKDF2PasswordHasher().encode(pw, "abcdefghijkl", 1000)),
        made("pbkdf2_sha256 21-char salt", pw, h.PBKDF2PasswordHasher().encode(pw, "a" * 21, 1000)),
        made("pbkdf2_sha256 unicode salt", pw, h.PBKDF2PasswordHasher().encode(pw, "sälzchen-ünïcødé-22chr", 1000)),
        made("pbkdf2_sha1 600000", pw, h.PBKDF2SHA1PasswordHasher().encode(pw, salt(), 600000)),
        made("md5 short salt", pw, h.MD5PasswordHasher().encode(pw, "ab")),
        made("argon2 django default", pw, h.Argon2PasswordHasher().encode(pw, h.Argon2PasswordHasher().salt())),
        made("scrypt django default", pw, h.ScryptPasswordHasher().encode(pw, salt())),
        made("bcrypt_sha256 django default", pw, h.BCryptSHA256PasswordHasher().encode(pw, h.BCryptSHA256PasswordHasher().salt())),
        made("bcrypt django default", pw, h.BCryptPasswordHasher().encode(pw, h.BCryptPasswordHasher().salt())),
        made("bcrypt_sha256 rounds=5", pw, type("B5", (h.BCryptSHA256PasswordHasher,), {"rounds": 5})().encode(pw, h.BCryptSHA256PasswordHasher.salt(type("B5", (h.BCryptSHA256PasswordHasher,), {"rounds": 5})()))),
    ]
    import argon2

    # argon2i made by argon2-cffi directly: Django verifies it (and wants to update it).
    raw = argon2.low_level.hash_secret(
        pw.encode(), b"saltsaltsaltsalt", time_cost=2, memory_cost=256, parallelism=1,
        hash_len=32, type=argon2.low_level.Type.I,
    )
    out.append(made("argon2i via argon2-cffi", pw, "argon2" + raw.decode("ascii")))
    raw = argon2.low_level.hash_secret(
        pw.encode(), b"saltsaltsaltsalt", time_cost=1, memory_cost=128, parallelism=1,
        hash_len=16, type=argon2.low_level.Type.ID,
    )
    out.append(made("argon2id 16-byte hash, 16-byte salt", pw, "argon2" + raw.decode("ascii")))

    configs = preferred_configs()
    for v in out:
        ok, _ = dj_verify(v["password"], v["encoded"])
        assert ok, v["note"]
        v["matches"] = ok
        try:
            wrong, _ = dj_verify(v["password"] + "x", v["encoded"])
        except ValueError:
            wrong = None  # bcrypt >= 5 refuses (instead of truncating) passwords over 72 bytes
        v["wrong_password_matches"] = wrong
        v["must_update"] = {
            name: dj_verify(v["password"], v["encoded"], preferred=pref)[1]
            for name, pref in configs.items()
        }
    return {
        "generator": "gen_django_passwords.py",
        "django_version": django.get_version(),
        "django_default_pbkdf2_iterations": h.PBKDF2PasswordHasher.iterations,
        "django_defaults": {
            "argon2": {
                "time_cost": h.Argon2PasswordHasher.time_cost,
                "memory_cost": h.Argon2PasswordHasher.memory_cost,
                "parallelism": h.Argon2PasswordHasher.parallelism,
            },
            "scrypt": {
                "work_factor": h.ScryptPasswordHasher.work_factor,
                "block_size": h.ScryptPasswordHasher.block_size,
                "parallelism": h.ScryptPasswordHasher.parallelism,
            },
            "bcrypt_rounds": h.BCryptSHA256PasswordHasher.rounds,
        },
        "preferred_configs": {
            "django_default": "Django's own default hasher (pbkdf2_sha256 at django_default_pbkdf2_iterations)",
            "pbkdf2_sha256@N": "PBKDF2PasswordHasher with iterations = N",
            "argon2|scrypt|bcrypt_sha256|bcrypt": "that Django hasher with its default parameters",
        },
        "vectors": out,
    }


def check_cutty(path):
    with open(path) as f:
        data = json.load(f)
    accepted = 0
    for v in data["hashes"]:
        ok = h.check_password(v["password"], v["encoded"])
        try:
            wrong = h.check_password(v["password"] + "x", v["encoded"])
        except ValueError:
            wrong = None  # bcrypt >= 5 refuses passwords over 72 bytes
        # Every Django version that checked the file must agree.
        v["django_accepts"] = ok and v.get("django_accepts", True)
        v["django_accepts_wrong_password"] = wrong if not v.get("django_accepts_wrong_password") else True
        accepted += ok and wrong is not True
    data.pop("checked_by_django", None)
    checks = data.setdefault("django_checks", {})
    checks[django.get_version()] = {"accepted": accepted, "of": len(data["hashes"])}
    data["django_accepted_all"] = all(c["accepted"] == c["of"] for c in checks.values())
    with open(path, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("Django %s accepted %d of %d Cutty-made hashes" % (django.get_version(), accepted, len(data["hashes"])))
    return 0 if accepted == len(data["hashes"]) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="django_passwords.json")
    ap.add_argument("--check-cutty", metavar="FILE")
    args = ap.parse_args()
    if args.check_cutty:
        return check_cutty(args.check_cutty)
    data = generate()
    with open(args.out, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d vectors (Django %s) to %s" % (len(data["vectors"]), data["django_version"], args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
