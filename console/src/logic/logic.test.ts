import { describe, expect, it } from "vitest";
import { md5 } from "./md5";
import { span } from "./time";
import { pushUrl, streamPath } from "./urls";

describe("md5", () => {
  it("matches RFC 1321's test suite", () => {
    expect(md5("")).toBe("d41d8cd98f00b204e9800998ecf8427e");
    expect(md5("abc")).toBe("900150983cd24fb0d6963f7d28e17f72");
    expect(md5("message digest")).toBe("f96b697d7cb7938d525a2f31aaf161d0");
    expect(md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890")).toBe(
      "57edf4a22be3c955ac49da2e2107b67a",
    );
  });
  it("hashes UTF-8 bytes", () => {
    expect(md5("\u00e9")).toBe("66ddcd97cfdeabb2f6fb8a999b4bc76f");
  });
});

describe("push URLs", () => {
  it("carry txTime and txSecret = md5(key + stream + txTime)", () => {
    const u = pushUrl({ host: "10.0.0.5", port: 1935, domain: "live.example", app: "live", stream: "cam1", key: "k", expiresAt: 0x5c2acc9a });
    expect(u).toBe(`rtmp://10.0.0.5/live/cam1?vhost=live.example&txSecret=${md5("kcam15C2ACC9A")}&txTime=5C2ACC9A`);
  });
  it("name the port and the domain only when needed", () => {
    expect(pushUrl({ host: "live.example", port: 19350, domain: "live.example", app: "a", stream: "s" })).toBe(
      "rtmp://live.example:19350/a/s",
    );
  });
  it("escape stream paths", () => {
    expect(streamPath({ domain: "d", app: "a b", stream: "s" }, "/drop")).toBe("/v1/streams/d/a%20b/s/drop");
  });
});

describe("spans", () => {
  it("read as an operator says them", () => {
    expect([span(999), span(45_000), span(12 * 60_000), span(3 * 3600_000 + 5 * 60_000), span(52 * 3600_000)]).toEqual([
      "0 s",
      "45 s",
      "12 min",
      "3 h 05 min",
      "2 d 4 h",
    ]);
  });
});
