#!/usr/bin/env python3
"""moto server (from the repository's .venv) that checks credentials from its first request.

Run it with the venv's python:

    .venv/bin/python scripts/moto-server.py --port 9000      # key pair from the environment:
        MOTO_ACCESS_KEY_ID=AKIA... MOTO_SECRET_ACCESS_KEY=...  (or --access-key/--secret-key)
    .venv/bin/python scripts/moto-server.py --port 9000 --open   # any credentials accepted

Before the server answers, an IAM user (default `trafficgen`) is created inside moto's
backend, with an inline policy allowing s3:* on *, and given exactly the access key id
and secret asked for (moto's IAM API cannot choose them: it always generates both). IAM
authentication is then on for every request (moto's INITIAL_NO_AUTH_ACTION_COUNT = 0):
a request signed with another key id fails with 403 InvalidAccessKeyId, one signed with
the right id but another secret with 403 SignatureDoesNotMatch. A restarted server
given the same pair accepts the same pair, though its buckets are gone.

The key pair comes from the environment (MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY)
rather than the command line so the secret is not shown in the process list; the
--access-key/--secret-key options exist for hand use. Secrets are never printed.

Note: moto's own /moto-api/reset endpoint wipes the user too, and /moto-api/reset-auth
switches authentication off; nothing here calls them. Listens on loopback by default.
"""

import argparse
import json
import os
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-H", "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=int, required=True, help="port to listen on")
    p.add_argument("--access-key", default=os.environ.get("MOTO_ACCESS_KEY_ID"),
                   help="access key id to accept (default: $MOTO_ACCESS_KEY_ID)")
    p.add_argument("--secret-key", default=os.environ.get("MOTO_SECRET_ACCESS_KEY"),
                   help="its secret (default: $MOTO_SECRET_ACCESS_KEY)")
    p.add_argument("--user", default="trafficgen", help="IAM user name (default trafficgen)")
    p.add_argument("--open", action="store_true",
                   help="no authentication: any credentials are accepted (moto's default); "
                        "the key pair, when given, is still registered")
    a = p.parse_args(argv)
    if not a.open and not (a.access_key and a.secret_key):
        p.error("an access key id and secret are needed (MOTO_ACCESS_KEY_ID and "
                "MOTO_SECRET_ACCESS_KEY, or --access-key/--secret-key), or --open")
    return a


def preload_user(user_name, access_key_id, secret):
    """The IAM user, its s3:* policy and the fixed key pair, in moto's default account."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    iam = iam_backends[account]["aws"]
    iam.create_user(region_name="us-east-1", user_name=user_name)
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(user_name, "s3-all", json.dumps(policy))
    key = iam.create_access_key(user_name)
    # moto generates both values; replace them and re-register the key under its new id
    # (the backend's dict is keyed by the id, and requests are matched on it).
    del iam.access_keys[key.physical_resource_id]
    key.access_key_id = access_key_id
    key.secret_access_key = secret
    iam.access_keys[key.physical_resource_id] = key


def install_query_auth():
    """Presigned URLs and unsigned requests under authentication.

    moto 5.2.1 only reads credentials from the Authorization header: a presigned URL
    (credentials in the query string) or a request without any signature makes it fail
    with a 500 (KeyError 'Authorization'). This checks both presigned forms the way S3
    does -- SigV4 (X-Amz-Algorithm=AWS4-HMAC-SHA256 ..., what the AWS SDKs and obsctl
    make) and SigV2 (AWSAccessKeyId, Signature, Expires: boto3's and the AWS CLI's
    default for us-east-1) -- expiry included, and answers an unsigned request with
    403 AccessDenied. It also fixes moto's header check for keys with a space or "+"
    and for listings with a prefix or delimiter.
    """
    import base64
    import datetime
    import hashlib
    import hmac
    import time
    from urllib.parse import quote, unquote, urlsplit

    from botocore.auth import HmacV1Auth
    from moto.iam import access_control as ac
    from moto.utilities.utils import get_partition

    base = ac.IAMRequestBase
    header_init, header_check = base.__init__, base.check_signature

    def canonical_path(path):
        return quote(unquote(path), safe="/~")

    def query_pairs(query):
        # Not parse_qsl: "+" stays "+" (clients send a space as %20).
        return [(unquote(k), unquote(v)) for k, _, v in
                (p.partition("=") for p in query.split("&") if p)]

    def canonical_query(pairs):
        enc = lambda s: quote(s, safe="-_.~")
        return "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in pairs))

    def __init__(self, account_id, method, path, data, body, headers, action):
        if isinstance(self, ac.S3IAMRequest):
            # Path and query as the client signed them: moto hands them over partly
            # decoded (a key with a space or "+", or a listing with prefix=dir/, would
            # otherwise never match their signature).
            split = urlsplit(path)
            query = canonical_query(query_pairs(split.query))
            path = canonical_path(split.path) + ("?" + query if query else "")
        if "Authorization" in headers:
            return header_init(self, account_id, method, path, data, body, headers, action)
        self.account_id, self._method, self._path = account_id, method, path
        self._data, self._body, self._headers = data, body, headers
        q = dict(query_pairs(urlsplit(path).query))
        action = action[0] if isinstance(action, list) else action
        if q.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256" and q.get("X-Amz-Credential", "").count("/") == 4:
            key_id, _, self._region, self._service, _ = q["X-Amz-Credential"].split("/")
            self._presigned = ("v4", q)
        elif "AWSAccessKeyId" in q and "Signature" in q and "Expires" in q:
            key_id, self._region, self._service = q["AWSAccessKeyId"], "us-east-1", "s3"
            self._presigned = ("v2", q)
        else:
            self._region, self._service = "us-east-1", "s3"
            self._action = f"{self._service}:{action}"
            if isinstance(self, ac.S3IAMRequest):
                self._raise_access_denied()
            raise ac.AccessDeniedError(user_arn="anonymous", action=self._action)
        self._action = f"{self._service}:{action}"
        try:
            self._access_key = ac.create_access_key(
                account_id=account_id, partition=get_partition(self._region),
                access_key_id=key_id, headers=headers)
        except ac.CreateAccessKeyFailure as e:
            self._raise_invalid_access_key(e.reason)

    def v4_signature(self, secret, q):
        split = urlsplit(self._path)
        query = canonical_query((k, v) for k, v in query_pairs(split.query) if k != "X-Amz-Signature")
        signed = q.get("X-Amz-SignedHeaders", "host").split(";")
        hdrs = {k.lower(): " ".join(str(v).split()) for k, v in self._headers.items()}
        canonical = "\n".join([
            self._method, canonical_path(split.path), query,
            "".join(f"{h}:{hdrs.get(h, '')}\n" for h in signed), ";".join(signed),
            q.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")])
        scope = q["X-Amz-Credential"].split("/", 1)[1]
        to_sign = "\n".join(["AWS4-HMAC-SHA256", q.get("X-Amz-Date", ""), scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + secret).encode()
        for part in scope.split("/"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    def v4_expired(q):
        try:
            start = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
            start = start.replace(tzinfo=datetime.timezone.utc).timestamp()
            return time.time() > start + int(q.get("X-Amz-Expires", "0"))
        except (KeyError, ValueError):
            return True

    def v2_signature(self, secret, q):
        split = urlsplit(self._path)
        hdrs = {k.lower(): str(v).strip() for k, v in self._headers.items()}
        amz = "".join(f"{k}:{hdrs[k]}\n" for k in sorted(hdrs) if k.startswith("x-amz-"))
        sub = sorted((k, v) for k, v in query_pairs(split.query) if k in HmacV1Auth.QSAOfInterest)
        resource = canonical_path(split.path)
        if sub:
            resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sub)
        to_sign = (f"{self._method}\n{hdrs.get('content-md5', '')}\n{hdrs.get('content-type', '')}\n"
                   f"{q['Expires']}\n{amz}{resource}")
        mac = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()
        return base64.b64encode(mac).decode()

    def check_signature(self):
        presigned = getattr(self, "_presigned", None)
        if presigned is None:
            return header_check(self)
        kind, q = presigned
        secret = self._access_key.create_credentials().secret_key
        if kind == "v4":
            ok = hmac.compare_digest(v4_signature(self, secret, q).encode(), q.get("X-Amz-Signature", "").encode())
            expired = v4_expired(q)
        else:
            ok = hmac.compare_digest(v2_signature(self, secret, q).encode(), q["Signature"].encode())
            expired = not q["Expires"].isdigit() or time.time() > int(q["Expires"])
        if not ok:
            self._raise_signature_does_not_match()
        if expired:
            self._raise_access_denied()

    base.__init__ = __init__
    base.check_signature = check_signature


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    # Keep the secret out of child environments and of anything moto might dump.
    os.environ.pop("MOTO_SECRET_ACCESS_KEY", None)
    from moto import settings
    from moto.core.responses import ActionAuthenticatorMixin

    install_query_auth()
    if a.access_key and a.secret_key:
        preload_user(a.user, a.access_key, a.secret_key)
    # 0: every request is authenticated, from the first; inf: none is (moto's default).
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf") if a.open else 0
    ActionAuthenticatorMixin.request_count = 0
    os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    mode = "open (any credentials)" if a.open else f"authenticating (IAM user {a.user})"
    print(f"moto-server: {mode} on http://{a.host}:{a.port}", file=sys.stderr, flush=True)

    from moto.server import main as moto_main

    moto_main(["-H", a.host, "-p", str(a.port)])


if __name__ == "__main__":
    main()
