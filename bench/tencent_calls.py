"""Times Tencent-action calls against a running rewind with Tencent's own Python SDK
(bench/tencent.sh runs it): p50, p99 and max round trip of each, in ms.

    target/tools/tencent/bin/python bench/tencent_calls.py HOST:PORT SECRET_ID SECRET_KEY [N]
"""

import json
import statistics
import sys
import time

from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.live.v20180801 import live_client, models as live_models
from tencentcloud.vod.v20180717 import vod_client, models as vod_models

endpoint, sid, skey = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 50
profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint, protocol="http", reqTimeout=60))
cred = credential.Credential(sid, skey)
live = live_client.LiveClient(cred, "ap-guangzhou", profile)
vod = vod_client.VodClient(cred, "", profile)


def timed(name, client, models, action, params, check):
    req = getattr(models, action + "Request")()
    req.from_json_string(json.dumps(params))
    getattr(client, action)(req)  # warm
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        resp = getattr(client, action)(req)
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"figures: {name}: p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms ({check(resp)})")


# A sign-only call first: the SDK's own cost per call on this machine.
timed("DescribeLiveRecordRules (the SDK's floor)", live, live_models, "DescribeLiveRecordRules", {}, lambda r: "-")
timed("DescribeLiveStreamOnlineList PageSize 10", live, live_models, "DescribeLiveStreamOnlineList",
      {"PageSize": 10}, lambda r: f"TotalNum {r.TotalNum}")
timed("DescribeLiveStreamOnlineList PageSize 1000", live, live_models, "DescribeLiveStreamOnlineList",
      {"PageSize": 1000}, lambda r: f"TotalNum {r.TotalNum}, {len(r.OnlineInfo)} listed")
timed("DescribeLiveStreamState", live, live_models, "DescribeLiveStreamState",
      {"DomainName": "default", "AppName": "live", "StreamName": "load7"}, lambda r: r.StreamState)
timed("SearchMedia StreamId", vod, vod_models, "SearchMedia", {"StreamId": "cam7", "Limit": 10},
      lambda r: f"TotalCount {r.TotalCount}")
timed("SearchMedia StreamIds of 3 streams (30,000 files), newest first", vod, vod_models, "SearchMedia",
      {"StreamIds": ["cam1", "cam2", "cam3"], "Limit": 10}, lambda r: f"TotalCount {r.TotalCount}")
timed("SearchMedia everything, newest first", vod, vod_models, "SearchMedia", {"Limit": 10},
      lambda r: f"TotalCount {r.TotalCount}")
timed("SearchMedia one day of one domain's aac", vod, vod_models, "SearchMedia",
      {"StreamDomains": ["d3.example"], "MediaTypes": ["aac"], "StartTime": "2019-01-05T00:00:00Z",
       "EndTime": "2019-01-06T00:00:00Z", "Limit": 10}, lambda r: f"TotalCount {r.TotalCount}")

# The server's part: the answer's bytes as they arrive (signing, HTTP, no model building).
for size in (10, 1000):
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        live.call("DescribeLiveStreamOnlineList", {"PageSize": size})
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"figures: DescribeLiveStreamOnlineList PageSize {size}, raw answer: p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms")
