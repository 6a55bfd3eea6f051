"""Drives rewind with Tencent Cloud's own Python SDK, one call per line.

Reads JSON lines on stdin:
  {"service": "live"|"vod", "action": "CreateLiveRecordTemplate", "params": {...},
   "method": "POST"|"GET", "sign": "TC3-HMAC-SHA256"|"HmacSHA256"|"HmacSHA1",
   "unsigned": false, "secret_id": "...", "secret_key": "...", "skew": 0}
and answers each with one JSON line: {"ok": <the response model as JSON>} or
{"error": {"code": ..., "message": ...}}. The request goes through the SDK's typed
models (`<Action>Request`, `client.<Action>`), as a user's code calls it, so the SDK's
own parsing of rewind's answer is what is tested.
"""

import json
import sys
import time

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.live.v20180801 import live_client, models as live_models
from tencentcloud.vod.v20180717 import vod_client, models as vod_models

ENDPOINT = sys.argv[1]  # host:port
REAL_TIME = time.time


def call(req):
    hp = HttpProfile(endpoint=ENDPOINT, protocol="http", reqMethod=req.get("method", "POST"), reqTimeout=60)
    cp = ClientProfile(signMethod=req.get("sign", "TC3-HMAC-SHA256"), httpProfile=hp)
    cp.unsignedPayload = bool(req.get("unsigned", False))
    cred = credential.Credential(req["secret_id"], req["secret_key"])
    if req["service"] == "vod":
        client, models = vod_client.VodClient(cred, "", cp), vod_models
    else:
        client, models = live_client.LiveClient(cred, "ap-guangzhou", cp), live_models
    action = req["action"]
    request_type = getattr(models, action + "Request", None)
    if request_type is None:
        # An action the SDK does not have: sent as the SDK sends any call.
        got = json.loads(client.call(action, req.get("params", {})))["Response"]
        if "Error" in got:
            raise TencentCloudSDKException(got["Error"]["Code"], got["Error"]["Message"], got.get("RequestId"))
        return got
    r = request_type()
    r.from_json_string(json.dumps(req.get("params", {})))
    skew = req.get("skew", 0)
    time.time = lambda: REAL_TIME() + skew
    try:
        resp = getattr(client, action)(r)
    finally:
        time.time = REAL_TIME
    return json.loads(resp.to_json_string())


for line in sys.stdin:
    req = json.loads(line)
    try:
        out = {"ok": call(req)}
    except TencentCloudSDKException as e:
        out = {"error": {"code": e.get_code(), "message": e.get_message()}}
    except Exception as e:  # the SDK failed to read the answer: the test shows why
        out = {"error": {"code": "Driver." + type(e).__name__, "message": str(e)}}
    print(json.dumps(out), flush=True)
