#!/usr/bin/env python3
"""A real RTSP server for the tests: GStreamer's gst-rtsp-server serving live test
sources, as an IP camera does.

    rtsp_server.py PORT [--auth basic|digest --user U --password P] [--tcp-only]
                        [--bitrate KBPS] [--file FLV]

Mounts (one encoder per client):
  /h264     H.264 640x360 25 fps, key frame every second, + AAC 48 kHz stereo
  /h265     H.265 640x360 25 fps, key frame every second, + AAC 48 kHz stereo
  /bframes  H.264 with two B-frames between references (sent in decode order), + AAC
  /pcma     H.264 + G.711 A-law audio (a camera whose audio rewind does not record)
  /silent   H.264 for 2 s, then nothing at all while the session stays open
  /file     with --file: an H.264+AAC FLV file, in real time, without encoding (benchmarks)
Prints "ready" once listening; runs until killed.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("port")
ap.add_argument("--auth", choices=["basic", "digest"])
ap.add_argument("--user", default="cam")
ap.add_argument("--password", default="secret")
ap.add_argument("--tcp-only", action="store_true")
ap.add_argument("--bitrate", type=int, default=800)
ap.add_argument("--file")
args = ap.parse_args()

Gst.init(None)
VIDEO = "videotestsrc is-live=true pattern=ball {n} ! video/x-raw,format=I420,width=640,height=360,framerate=25/1"
H264 = f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate={args.bitrate} ! rtph264pay name=pay0 pt=96 config-interval=-1"
H265 = f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate={args.bitrate} ! rtph265pay name=pay0 pt=96 config-interval=-1"
AAC = "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 ! voaacenc bitrate=64000 ! rtpmp4gpay name=pay1 pt=97"
# Main profile asked in the caps: left to negotiate with rtph264pay, x264 picks a
# profile without B-frames.
H264_B = f"x264enc speed-preset=ultrafast bframes=2 b-adapt=false key-int-max=25 bitrate={args.bitrate} ! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 config-interval=-1"
PCMA = "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"
MOUNTS = {
    "/h264": f"( {VIDEO.format(n='')} ! {H264} {AAC} )",
    "/h265": f"( {VIDEO.format(n='')} ! {H265} {AAC} )",
    "/bframes": f"( {VIDEO.format(n='')} ! {H264_B} {AAC} )",
    "/pcma": f"( {VIDEO.format(n='')} ! {H264} {PCMA} )",
    "/silent": f"( {VIDEO.format(n='num-buffers=50')} ! {H264} )",
}

if args.file:
    MOUNTS["/file"] = (
        f"( filesrc location={args.file} ! flvdemux name=d "
        "d.video ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 "
        "d.audio ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
    )

server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(args.port)
if args.auth:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    if args.auth == "digest":
        auth.add_digest(args.user, args.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password)
        auth.add_basic(basic, token)
    server.set_auth(auth)
mounts = server.get_mount_points()
for path, launch in MOUNTS.items():
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    # Each client its own pipeline, as each viewer of a camera gets one stream: a shared
    # media is seeked by every client's PLAY, which restarts the audio timestamps of the
    # clients already playing (seen: two sources of one mount making each other reconnect
    # with "audio timestamp went backwards"), and /file asserts.
    factory.set_shared(False)
    if args.tcp_only:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    if args.auth:
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    mounts.add_factory(path, factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
print("ready", flush=True)
GLib.MainLoop().run()
