//! The S3 client, built from `[storage]` and the usual AWS environment variables.

use crate::config::StorageConfig;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::time::Duration;

/// A client for `bucket`, and whether its endpoint is plain HTTP (uploads then go by
/// `sendfile_put`). Its own retries are short: the upload queue retries with its own
/// backoff, and a read that fails should fail while the player still waits.
pub fn client(bucket: &str, cfg: &StorageConfig) -> anyhow::Result<(AmazonS3, bool)> {
    // HTTPS endpoints: reqwest is built without a crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if !cfg.endpoint.is_empty() {
        b = b.with_endpoint(&cfg.endpoint);
    }
    if !cfg.region.is_empty() {
        b = b.with_region(&cfg.region);
    }
    if !cfg.access_key_id.is_empty() {
        b = b.with_access_key_id(&cfg.access_key_id);
    }
    if !cfg.secret_access_key.is_empty() {
        b = b.with_secret_access_key(&cfg.secret_access_key);
    }
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
    };
    let options = ClientOptions::new()
        .with_allow_http(cfg.allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(60));
    // Requests are signed, payloads are not (`UNSIGNED-PAYLOAD`, as most S3 clients do
    // over TLS): hashing every uploaded byte doubled rewind's CPU per recorded stream.
    // No endpoint (AWS's own) is HTTPS.
    let plain_http =
        b.get_config_value(&AmazonS3ConfigKey::Endpoint).is_some_and(|e| e.starts_with("http://"));
    let client = b
        .with_virtual_hosted_style_request(!cfg.path_style)
        .with_unsigned_payload(true)
        .with_retry(retry)
        .with_client_options(options)
        .build()
        .map_err(|e| anyhow::anyhow!("storage: cannot make an S3 client for bucket {bucket:?}: {e}"))?;
    Ok((client, plain_http))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_http_endpoint_is_plain_http() {
        let with = |endpoint: &str| StorageConfig {
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            allow_http: true,
            ..Default::default()
        };
        assert!(client("b", &with("http://127.0.0.1:9000")).unwrap().1);
        assert!(!client("b", &with("https://s3.example.net")).unwrap().1);
        assert!(!client("b", &with("")).unwrap().1 || std::env::var_os("AWS_ENDPOINT_URL").is_some());
    }
}
