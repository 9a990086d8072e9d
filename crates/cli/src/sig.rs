//! `mcp-auth sig base|sign|verify`: the tool people reach for when their signatures do
//! not match. Every failure names the step, the label, and the component or parameter.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mcp_auth_core::unix_now as now;
use mcp_auth_httpsig::http1::Http1Message;
use mcp_auth_httpsig::{
    Algorithm, ComponentId, DigestAlgorithm, EmbeddedKey, KeyResolver, Limits, Message, NonceMode,
    ParamName, PolicyError, RequestView, SignatureParams, Signer, SigningKey, VerificationPolicy,
    VerifiedSignature, Verifier, VerifyError, VerifyingKey, base, parse_signatures,
    sign::random_nonce,
};
use serde_json::json;

use crate::cli::{BaseArgs, DigestArg, ParamArgs, SigCommand, SignArgs, TargetArgs, VerifyArgs};
use crate::output::{indent, json_line, print, print_bytes, read_input, read_text};

pub(crate) fn run(cmd: SigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SigCommand::Base(a) => base_cmd(&a),
        SigCommand::Sign(a) => sign_cmd(&a),
        SigCommand::Verify(a) => verify_cmd(&a),
    }
}

/// The parsed message, its related request (for responses), and the target's scheme
/// and authority.
struct Loaded {
    message: Http1Message,
    request: Option<Http1Message>,
    scheme: String,
    authority: Option<String>,
}

impl Loaded {
    fn read(file: &std::path::Path, target: &TargetArgs) -> anyhow::Result<Self> {
        let bytes = read_input(file)?;
        let message = Http1Message::parse(&bytes)
            .with_context(|| format!("reading the message in {}", file.display()))?;
        let request = match &target.request {
            Some(p) => Some(
                Http1Message::parse(&read_input(p)?)
                    .with_context(|| format!("reading the request in {}", p.display()))?,
            ),
            None => None,
        };
        let (scheme, authority) = match &target.target_uri {
            Some(u) => {
                let uri: http::Uri = u.parse().with_context(|| format!("--target-uri {u}"))?;
                let scheme = uri
                    .scheme_str()
                    .context("--target-uri needs a scheme, e.g. https://host/path")?
                    .to_owned();
                (scheme, uri.authority().map(|a| a.as_str().to_owned()))
            }
            None => ("https".to_owned(), None),
        };
        Ok(Self {
            message,
            request,
            scheme,
            authority,
        })
    }

    fn view(&self) -> Message<'_> {
        let request: Option<RequestView<'_>> = self
            .request
            .as_ref()
            .and_then(|r| r.request_view(&self.scheme));
        match self.message.view(&self.scheme, request) {
            Message::Request(mut r) => {
                if let Some(a) = &self.authority {
                    r = r.with_authority(a);
                }
                Message::Request(r)
            }
            other => other,
        }
    }
}

fn parse_components(list: &str) -> anyhow::Result<Vec<ComponentId>> {
    ComponentId::parse_list(list).with_context(|| {
        format!(
            "--components {list:?}: write quoted identifiers separated by spaces, e.g. '\"@method\" \"@path\" \"content-digest\"'"
        )
    })
}

fn parse_time(value: &str, what: &str) -> anyhow::Result<i64> {
    match value {
        "now" => Ok(now()),
        v => v
            .parse()
            .with_context(|| format!("--{what} {v}: a UNIX time in seconds, or `now`")),
    }
}

/// Builds signature parameters from the flags (for `sig base --components`).
fn params_from_args(
    components: Vec<ComponentId>,
    p: &ParamArgs,
    alg: Option<Algorithm>,
    pub_key: Option<Vec<u8>>,
) -> anyhow::Result<SignatureParams<'static>> {
    let mut params = SignatureParams::new(components);
    let created = match p.created.as_deref() {
        None | Some("now") => Some(now()),
        Some("none") => None,
        Some(v) => Some(parse_time(v, "created")?),
    };
    if let Some(c) = created {
        params = params.with_created(c);
    }
    if let Some(e) = &p.expires {
        params = params.with_expires(expires_value(e, created)?);
    }
    if let Some(n) = &p.nonce {
        params = params.with_nonce(if n == "random" {
            random_nonce()?
        } else {
            n.clone()
        });
    }
    if p.include_alg
        && let Some(a) = alg.filter(|a| !matches!(a, Algorithm::Jws(_)))
    {
        params = params.with_alg(a.name());
    }
    if let Some(k) = &p.keyid {
        params = params.with_keyid(k.clone());
    }
    if let Some(t) = &p.tag {
        params = params.with_tag(t.clone());
    }
    if let Some(raw) = pub_key {
        params = params.with_pub(raw);
    }
    Ok(params)
}

fn expires_value(e: &str, created: Option<i64>) -> anyhow::Result<i64> {
    if let Some(rel) = e.strip_prefix('+') {
        let secs: i64 = rel.parse().with_context(|| format!("--expires {e}"))?;
        Ok(created.unwrap_or_else(now).saturating_add(secs))
    } else {
        parse_time(e, "expires")
    }
}

fn base_cmd(args: &BaseArgs) -> anyhow::Result<ExitCode> {
    let loaded = Loaded::read(&args.file, &args.target)?;
    let message = loaded.view();
    if let Some(list) = &args.components {
        let params = params_from_args(parse_components(list)?, &args.params, None, None)?;
        let text = params.serialize()?;
        let base = base::build(&message, &params.components, &text)
            .context("building the signature base")?;
        if args.json {
            json_line(&json!({"type": "base", "signature_params": text, "base": base}))?;
        } else {
            print(&format!("{base}\n"))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let entries = parse_signatures(message.headers(), &Limits::default())
        .context("reading Signature-Input / Signature")?;
    if entries.is_empty() {
        bail!("the message has no Signature-Input; give --components to build a base for signing");
    }
    let mut found = false;
    for e in entries {
        if args.label.as_ref().is_some_and(|l| *l != e.label) {
            continue;
        }
        found = true;
        let base = base::build(&message, &e.params.components, &e.params_text)
            .with_context(|| format!("building the signature base of `{}`", e.label))?;
        if args.json {
            json_line(
                &json!({"type": "base", "label": e.label, "signature_params": e.params_text, "base": base}),
            )?;
        } else {
            print(&format!("# {}\n{base}\n", e.label))?;
        }
    }
    if !found {
        bail!(
            "no signature labelled `{}` in the message",
            args.label.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn sign_cmd(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::from_text(&read_text(&args.key)?)
        .with_context(|| format!("reading the signing key {}", args.key.display()))?;
    let alg = resolve_signing_alg(args.alg.as_deref(), &key)?;
    let mut loaded = Loaded::read(&args.file, &args.target)?;
    let components = parse_components(&args.components)?;
    if args.content_digest.is_some()
        && !components
            .iter()
            .any(|c| c.is_plain_field("content-digest"))
    {
        eprintln!(
            "warning: --content-digest without \"content-digest\" in --components: the digest is added but not signed"
        );
    }
    if let Some(d) = args.content_digest {
        let d = match d {
            DigestArg::Sha256 => DigestAlgorithm::Sha256,
            DigestArg::Sha512 => DigestAlgorithm::Sha512,
        };
        let value = mcp_auth_httpsig::digest_value(&loaded.message.body, &[d]);
        loaded.message.set_header("Content-Digest", value);
    }
    let pub_key = if args.params.include_pub {
        Some(
            key.verifying_key()
                .pub_bytes()
                .context("--include-pub: only Ed25519 and ECDSA keys have a `pub` encoding")?,
        )
    } else {
        None
    };
    let params = params_from_args(components, &args.params, Some(alg), pub_key)?;
    let signer = Signer::new(key, alg)?
        .label(args.label.clone())
        .nonce(NonceMode::None);
    let existing = parse_signatures(&loaded.message.headers, &Limits::default())?;
    if existing.iter().any(|e| e.label == args.label) {
        bail!(
            "the message already has a signature labelled `{}`; choose another --label",
            args.label
        );
    }
    let (text, signature) = signer.sign_params(&loaded.view(), &params)?;
    let base = base::build(&loaded.view(), &params.components, &text)?;
    let mut headers = loaded.message.headers.clone();
    mcp_auth_httpsig::sign::attach(&mut headers, &args.label, &text, &signature)?;
    loaded.message.sync_from_headers(&headers);
    if args.json {
        let input = headers
            .get_all("signature-input")
            .iter()
            .next_back()
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let sig = headers
            .get_all("signature")
            .iter()
            .next_back()
            .map(|v| v.to_str().unwrap_or("").to_owned());
        json_line(&json!({
            "type": "signed", "label": args.label, "alg": alg.name(),
            "signature_input": input, "signature": sig, "base": base,
            "content_digest": loaded.message.headers.get("content-digest").and_then(|v| v.to_str().ok()),
        }))?;
    } else {
        print_bytes(&loaded.message.to_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve_signing_alg(flag: Option<&str>, key: &SigningKey) -> anyhow::Result<Algorithm> {
    if let Some(name) = flag {
        let alg: Algorithm = name.parse()?;
        if !key.kind().supports(alg) {
            bail!("--alg {name} cannot be used with a {:?} key", key.kind());
        }
        return Ok(alg);
    }
    key.algorithm()
        .or_else(|| key.kind().default_algorithm())
        .context("this RSA key can sign with several algorithms: give --alg rsa-pss-sha512 or --alg rsa-v1_5-sha256")
}

fn verify_cmd(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let file_key = match &args.key {
        Some(path) => {
            let mut key = VerifyingKey::from_text(&read_text(path)?)
                .with_context(|| format!("reading the key {}", path.display()))?;
            if let Some(name) = &args.alg {
                key = key.with_algorithm(name.parse()?)?;
            }
            Some(key)
        }
        None => None,
    };
    // A shared secret handed over by the user means HMAC is what they want.
    let hmac = file_key
        .as_ref()
        .is_some_and(|k| k.kind() == mcp_auth_httpsig::KeyKind::Hmac);
    let key: Box<dyn KeyResolver> = match file_key {
        Some(k) => Box::new(k),
        None => Box::new(EmbeddedKey),
    };
    let loaded = Loaded::read(&args.file, &args.target)?;
    let message = loaded.view();
    let mut policy = VerificationPolicy {
        label: args.label.clone(),
        required_tag: args.tag.clone(),
        max_age: args.max_age,
        require_digest_with_body: args.require_digest,
        ..VerificationPolicy::default()
    };
    if hmac {
        policy.allowed_algorithms.push(Algorithm::HmacSha256);
    }
    if let Some(list) = &args.require {
        policy.required_components = parse_components(list)?;
    }
    let now = args.now.unwrap_or_else(now);
    let entries = parse_signatures(message.headers(), &policy.limits);
    let verifier = Verifier::new(policy.clone());
    // Verify each selected signature on its own first, to explain every one of them;
    // then run the one-call check (signatures + digest) that decides the result.
    let mut reports = Vec::new();
    if let Ok(entries) = &entries {
        for e in entries {
            if policy.label.as_ref().is_some_and(|l| *l != e.label)
                || policy
                    .required_tag
                    .as_ref()
                    .is_some_and(|t| Some(t.as_str()) != e.params.tag())
            {
                continue;
            }
            reports.push((
                e.clone(),
                verifier.verify_entry(&message, e.clone(), key.as_ref(), now),
            ));
        }
    }
    let overall = verifier.verify(&message, &loaded.message.body, key.as_ref(), now);
    let signer_base = match &args.signer_base {
        Some(p) => Some(
            String::from_utf8_lossy(&read_input(p)?)
                .trim_end_matches('\n')
                .to_owned(),
        ),
        None => None,
    };
    if args.json {
        for (entry, r) in &reports {
            json_line(&report_json(entry, r, now))?;
        }
        json_line(&match &overall {
            Ok(v) => json!({"type": "summary", "valid": true, "signatures": v.signatures.len(),
                "content_digest": v.content_digest.iter().map(|d| d.key()).collect::<Vec<_>>()}),
            Err(e) => json!({"type": "summary", "valid": false, "error": error_json(e)}),
        })?;
    } else {
        let mut text = String::new();
        for (entry, r) in &reports {
            text.push_str(&report_text(entry, r, now, signer_base.as_deref()));
        }
        match &overall {
            Ok(v) => {
                let digest = if v.content_digest.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; Content-Digest ({}) matches the body",
                        v.content_digest
                            .iter()
                            .map(|d| d.key())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                text.push_str(&format!(
                    "valid: {} signature(s) verified{digest}\n",
                    v.signatures.len()
                ));
            }
            Err(e) => {
                text.push_str(&format!("invalid: {e}\n"));
                if let Some(hint) = hint(e) {
                    text.push_str(&format!("  hint: {hint}\n"));
                }
            }
        }
        print(&text)?;
    }
    Ok(if overall.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn describe_params(p: &SignatureParams, now: i64) -> String {
    let mut parts = Vec::new();
    if let Some(c) = p.created() {
        parts.push(format!("created {c} ({} s ago)", now - c));
    }
    if let Some(e) = p.expires() {
        parts.push(format!("expires {e}"));
    }
    for (name, v) in [
        ("nonce", p.nonce()),
        ("alg", p.alg()),
        ("keyid", p.keyid()),
        ("tag", p.tag()),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name} {v:?}"));
        }
    }
    if p.has(ParamName::Pub) {
        parts.push("pub (embedded key)".into());
    }
    parts.join(", ")
}

fn report_text(
    entry: &mcp_auth_httpsig::SignatureEntry,
    result: &Result<VerifiedSignature, VerifyError>,
    now: i64,
    signer_base: Option<&str>,
) -> String {
    let covers: Vec<&str> = entry.params.components.iter().map(|c| c.as_str()).collect();
    let mut out = format!(
        "signature `{}`\n  covers: {}\n  params: {}\n",
        entry.label,
        covers.join(" "),
        describe_params(&entry.params, now)
    );
    match result {
        Ok(v) => {
            out.push_str(&format!(
                "  ok: verifies with {} (key thumbprint {})\n",
                v.algorithm,
                v.key.thumbprint()
            ));
        }
        Err(e) => {
            out.push_str(&format!("  FAILED at {}: {e}\n", step(e)));
            if let VerifyError::BadSignature { base, .. } = e {
                out.push_str("  the signature base this verifier built:\n");
                out.push_str(&indent(base, 4));
                match signer_base {
                    Some(theirs) => out.push_str(&first_difference(base, theirs)),
                    None => out.push_str("  (give the signer's base with --signer-base FILE to see the first differing line)\n"),
                }
            }
        }
    }
    out
}

/// Names the verification step a failure belongs to.
fn step(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::Fields(_) => "parsing Signature-Input / Signature",
        VerifyError::Policy(
            PolicyError::Stale { .. }
            | PolicyError::CreatedInFuture { .. }
            | PolicyError::Expired { .. }
            | PolicyError::ExpiresBeforeCreated { .. },
        ) => "the time window",
        VerifyError::Policy(
            PolicyError::AlgorithmMismatch { .. }
            | PolicyError::AlgorithmNotAllowed { .. }
            | PolicyError::AlgorithmUnknown { .. },
        ) => "choosing the algorithm",
        VerifyError::Policy(_) => "the verification policy",
        VerifyError::Key { .. } => "the key",
        VerifyError::Base { .. } => "building the signature base",
        VerifyError::BadSignature { .. } => "the signature check",
        VerifyError::Digest(_) => "the Content-Digest check",
        _ => "verification",
    }
}

fn hint(e: &VerifyError) -> Option<&'static str> {
    Some(match e {
        VerifyError::BadSignature { .. } => {
            "the bases differ or the key is not the signer's: compare the base above with the signer's, line by line; @target-uri and @authority depend on --target-uri"
        }
        VerifyError::Policy(PolicyError::AlgorithmUnknown { .. }) => {
            "give --alg (RSA keys can sign with rsa-pss-sha512 or rsa-v1_5-sha256)"
        }
        VerifyError::Policy(PolicyError::Stale { .. }) => {
            "use --now to verify an old example, or sign again"
        }
        VerifyError::Digest(_) => {
            "the body is not the one the signer digested: check the body bytes (a trailing newline counts) and Content-Length"
        }
        VerifyError::Base { .. } => {
            "a covered component is missing from the message or cannot be derived"
        }
        _ => return None,
    })
}

fn first_difference(ours: &str, theirs: &str) -> String {
    for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        if a != b {
            return format!(
                "  first difference, line {}:\n    verifier: {a}\n    signer:   {b}\n",
                i + 1
            );
        }
    }
    let (a, b) = (ours.lines().count(), theirs.lines().count());
    if a != b {
        return format!("  the bases have {a} and {b} lines\n");
    }
    "  the bases are identical: the key or the algorithm is not the signer's\n".to_owned()
}

fn report_json(
    entry: &mcp_auth_httpsig::SignatureEntry,
    result: &Result<VerifiedSignature, VerifyError>,
    now: i64,
) -> serde_json::Value {
    let covers: Vec<&str> = entry.params.components.iter().map(|c| c.as_str()).collect();
    let mut v = json!({
        "type": "signature", "label": entry.label, "covers": covers,
        "signature_params": entry.params_text, "created": entry.params.created(),
        "age": entry.params.created().map(|c| now - c),
        "valid": result.is_ok(),
    });
    match result {
        Ok(s) => {
            v["alg"] = json!(s.algorithm.name());
            v["key_thumbprint"] = json!(s.key.thumbprint());
            v["base"] = json!(s.base);
        }
        Err(e) => {
            v["error"] = error_json(e);
            if let VerifyError::BadSignature { base, .. } = e {
                v["base"] = json!(base);
            }
        }
    }
    v
}

fn error_json(e: &VerifyError) -> serde_json::Value {
    json!({"kind": e.metric_label(), "step": step(e), "message": e.to_string()})
}
