//! Everything a peer can send after the handshake: chunk stream bytes, split at an
//! arbitrary point, decoded into messages whose commands, data and media are parsed.
#![no_main]
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rewind_rtmp::chunk::Limits;
use rewind_rtmp::message as m;
use rewind_rtmp::ChunkDecoder;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize * data.len() / 256;
    let mut dec = ChunkDecoder::new(Limits::default());
    let mut input = BytesMut::new();
    for piece in [&data[1..split.max(1)], &data[split.max(1)..]] {
        input.extend_from_slice(piece);
        loop {
            match dec.decode(&mut input) {
                Ok(Some(msg)) => match msg.type_id {
                    m::MSG_COMMAND_AMF0 | m::MSG_COMMAND_AMF3 => {
                        let _ = m::parse_command(msg.type_id, &msg.payload);
                    }
                    m::MSG_DATA_AMF0 | m::MSG_DATA_AMF3 => {
                        let _ = m::parse_data(msg.type_id, &msg.payload);
                    }
                    m::MSG_VIDEO => {
                        let _ = rewind_media::flv::parse_video(&Bytes::from(msg.payload.to_vec()));
                    }
                    m::MSG_AUDIO => {
                        let _ = rewind_media::flv::parse_audio(&msg.payload);
                    }
                    _ => {}
                },
                Ok(None) | Err(_) => break,
            }
        }
    }
});
