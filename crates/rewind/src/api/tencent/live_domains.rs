//! Domains and push keys: `DescribeLivePushAuthKey`, `ModifyLivePushAuthKey`,
//! `DescribeLiveDomains`, over `/v1/domains`.

use super::Ctx;
use super::params::{Params, TcError};
use super::v1::seg;
use serde_json::{Value, json};

/// A domain's settings (`null` fields when it has none).
async fn settings(ctx: &Ctx<'_>, domain: &str) -> Result<Value, TcError> {
    match ctx.v1.get(&format!("/v1/domains/{}", seg(domain))).await {
        Ok(d) => Ok(d),
        Err(e) if e.code == "ResourceNotFound.Domain" => Ok(json!({"push_auth": null, "callback": null})),
        Err(e) => Err(e),
    }
}

/// `DescribeLivePushAuthKey`: a domain without keys answers `Enable` 0 (every push
/// is taken).
pub async fn describe_push_auth_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only("DescribeLivePushAuthKey", &["DomainName"])?;
    let domain = p.need_str("DomainName")?;
    let s = settings(ctx, &domain).await?;
    let a = &s["push_auth"];
    Ok(json!({ "PushAuthKeyInfo": {
        "DomainName": domain,
        "Enable": i64::from(!a.is_null()),
        "MasterAuthKey": a["primary_key"].as_str().unwrap_or(""),
        "BackupAuthKey": a["backup_key"].as_str().unwrap_or(""),
        "AuthDelta": 0,
    }}))
}

/// `ModifyLivePushAuthKey`: the fields sent change; `Enable` 0 takes every push again
/// (the keys are forgotten); the domain's callback is kept.
pub async fn modify_push_auth_key(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only(
        "ModifyLivePushAuthKey",
        &["DomainName", "Enable", "MasterAuthKey", "BackupAuthKey", "AuthDelta"],
    )?;
    let domain = p.need_str("DomainName")?;
    if p.int("AuthDelta")?.is_some_and(|d| d != 0) {
        return Err(TcError::unsupported(
            "AuthDelta",
            "a push is refused once its txTime has passed (no grace after it); send 0 or leave it out",
        ));
    }
    let enable = p.int_in("Enable", 0, 1)?;
    let s = settings(ctx, &domain).await?;
    let cur = &s["push_auth"];
    let on = enable.map_or(!cur.is_null(), |e| e == 1);
    let push_auth = if on {
        let primary = p.str("MasterAuthKey")?.or_else(|| cur["primary_key"].as_str().map(str::to_string));
        let backup = p.str("BackupAuthKey")?.or_else(|| cur["backup_key"].as_str().map(str::to_string));
        let Some(primary) = primary.filter(|k| !k.is_empty()) else {
            return Err(TcError::new(
                "InvalidParameterValue",
                "MasterAuthKey is required to enable push authentication",
            ));
        };
        json!({"primary_key": primary, "backup_key": backup.unwrap_or_default()})
    } else {
        Value::Null
    };
    let body = json!({"push_auth": push_auth, "callback": s["callback"]});
    ctx.v1.put(&format!("/v1/domains/{}", seg(&domain)), &body).await?;
    Ok(json!({}))
}

/// `DescribeLiveDomains`: the push domains rewind knows — those with settings, the
/// default domain, and every domain a stream was pushed to. All are push domains
/// (`Type` 0), enabled.
pub async fn describe_domains(ctx: &Ctx<'_>, p: &Params) -> Result<Value, TcError> {
    p.only(
        "DescribeLiveDomains",
        &["DomainStatus", "DomainType", "PageSize", "PageNum", "IsDelayLive", "DomainPrefix", "PlayType"],
    )?;
    let size = p.int_in("PageSize", 10, 100)?.unwrap_or(10);
    let num = p.int_in("PageNum", 1, 100_000)?.unwrap_or(1);
    let status = p.int_in("DomainStatus", 0, 1)?;
    let kind = p.int_in("DomainType", 0, 1)?;
    let delay = p.int_in("IsDelayLive", 0, 1)?;
    p.int_in("PlayType", 1, 3)?;
    let prefix = p.str("DomainPrefix")?.unwrap_or_default();
    let mut names = std::collections::BTreeSet::new();
    names.insert(ctx.default_domain.to_string());
    let d = ctx.v1.get("/v1/domains").await?;
    for x in d["domains"].as_array().into_iter().flatten() {
        names.extend(x["domain"].as_str().map(str::to_string));
    }
    let s = ctx.v1.get("/v1/streams?all=true").await?;
    for x in s["streams"].as_array().into_iter().flatten() {
        names.extend(x["domain"].as_str().map(str::to_string));
    }
    // Push domains, enabled, not slow-live: other filters find none.
    let none = status == Some(0) || kind == Some(1) || delay == Some(1);
    let all: Vec<String> =
        if none { Vec::new() } else { names.into_iter().filter(|n| n.starts_with(&prefix)).collect() };
    let total = all.len();
    let list: Vec<Value> = all
        .into_iter()
        .skip(((num - 1) * size) as usize)
        .take(size as usize)
        .map(|name| {
            json!({
                "Name": name, "Type": 0, "Status": 1, "CreateTime": "", "BCName": 0, "TargetDomain": "",
                "PlayType": 1, "IsDelayLive": 0, "CurrentCName": "", "RentTag": 0, "RentExpireTime": "",
                "IsMiniProgramLive": 0,
            })
        })
        .collect();
    Ok(json!({"AllCount": total, "DomainList": list, "CreateLimitCount": 0, "PlayTypeCount": []}))
}
