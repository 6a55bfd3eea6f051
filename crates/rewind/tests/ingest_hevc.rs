//! H.265 over Enhanced RTMP (`hvc1` FourCC), which ffmpeg 5.1 cannot send: our own
//! client pushes hand-built tags around a real x265 bitstream.

mod common;
use common::*;
use rewind_media::hevc::{self, HevcConfig, NAL_PPS, NAL_SPS, NAL_VPS};
use std::process::Command;
use std::time::Duration;

/// Splits an Annex B stream into NAL units.
fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let mut e = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
            while e > s && data[e - 1] == 0 {
                e -= 1; // trailing zero of a 4-byte start code
            }
            &data[s..e]
        })
        .collect()
}

#[tokio::test]
async fn hevc_enhanced_rtmp_publish_is_accepted_and_described() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.hevc");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "2"])
        .args(["-c:v", "libx265", "-pix_fmt", "yuv420p", "-x265-params", "log-level=0:bframes=0:keyint=25"])
        .args(["-f", "hevc"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success());
    let data = std::fs::read(&path).unwrap();
    let nals = nal_units(&data);
    let find = |t| *nals.iter().find(|n| hevc::nal_type(n) == Some(t)).unwrap();
    let config = HevcConfig::from_parameter_sets(find(NAL_VPS), find(NAL_SPS), find(NAL_PPS)).unwrap();

    // Access units: a VCL NAL (type < 32) whose first_slice_segment_in_pic_flag is set starts one.
    let mut aus: Vec<(bool, Vec<u8>)> = Vec::new();
    for n in &nals {
        let t = hevc::nal_type(n).unwrap();
        if t >= 32 {
            continue; // parameter sets travel in the hvcC; SEI/AUD dropped for brevity
        }
        if n[2] & 0x80 != 0 {
            aus.push((hevc::is_irap(t), Vec::new()));
        }
        let au = &mut aus.last_mut().unwrap().1;
        au.extend_from_slice(&(n.len() as u32).to_be_bytes());
        au.extend_from_slice(n);
    }
    assert_eq!(aus.len(), 50);

    let srv = TestServer::start("");
    let mut p = rewind::push::client::Publisher::connect(&srv.push_url("live/hevc")).await.unwrap();
    let mut seq = vec![0x90, b'h', b'v', b'c', b'1'];
    seq.extend_from_slice(&config.record);
    p.send(9, 0, &seq).await.unwrap();
    for (i, (key, au)) in aus.iter().enumerate() {
        // Alternate the two coded-frame packet types: CodedFrames (with CTS) and CodedFramesX.
        let mut body = if i % 2 == 0 {
            vec![if *key { 0x91 } else { 0xa1 }, b'h', b'v', b'c', b'1', 0, 0, 0]
        } else {
            vec![if *key { 0x93 } else { 0xa3 }, b'h', b'v', b'c', b'1']
        };
        body.extend_from_slice(au);
        p.send(9, i as u32 * 40, &body).await.unwrap();
    }
    let v = srv
        .wait_stream("default/live/hevc", Duration::from_secs(5), |s, v| s == 200 && v["frames_in"] == 50)
        .await;
    assert_eq!(v["video"]["codec"], "hvc1.1.6.L60.90", "{v}");
    assert_eq!(v["video"]["width"], 320);
    assert_eq!(v["video"]["height"], 240);
    assert!(v["audio"].is_null());
    p.close().await.unwrap();
    srv.wait_stream("default/live/hevc", Duration::from_secs(5), |_, v| v["live"] == false).await;
    assert_eq!(srv.metric("rewind_protocol_errors_total{kind=\"codec\"} ").await, 0);
}
