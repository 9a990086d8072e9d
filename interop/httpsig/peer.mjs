#!/usr/bin/env node
// Interop peer for mcp-auth: dhensby/node-http-message-signatures (npm `http-message-signatures`).
//
// Usage:
//   peer.mjs sign   --alg ALG --key KEYFILE --label LABEL --components '"@method" "@target-uri"'
//                   [--created N] [--nonce X] [--keyid K] [--tag T] [--digest sha-256|sha-512]
//                   [--no-alg] [--lib-pss-salt] --in MSG.http --out SIGNED.http
//   peer.mjs verify --alg ALG --key KEYFILE [--label LABEL] --in SIGNED.http
//
// Same message/key conventions and exit codes as peer.py (0 ok/valid, 1 failed/invalid, 2 usage).
//
// The library has no RFC 9530 (Content-Digest) support, so digests are computed
// and checked here with node:crypto (createHash).

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import crypto from 'node:crypto';
import { constants as cryptoConstants } from 'node:crypto';

const require = createRequire(import.meta.url);
let hms, sh;
try {
    hms = require('http-message-signatures');
    sh = require('structured-headers');
} catch (e) {
    process.stderr.write(`peer.mjs: ${e.message.split('\n')[0]}; install the peer first: npm ci --prefix interop/httpsig\n`);
    process.exit(2);
}

const { signMessage, verifyMessage } = hms.httpbis;
const ALGS = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'hmac-sha256'];
const DIGESTS = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

class UsageError extends Error {}

// --------------------------------------------------------------------------
// argument parsing

function parseArgs(argv) {
    const [cmd, ...rest] = argv;
    if (cmd !== 'sign' && cmd !== 'verify') {
        throw new UsageError('usage: peer.mjs sign|verify --alg ALG --key KEYFILE ...');
    }
    const flags = new Set(['no-alg', 'lib-pss-salt']);
    const allowed = cmd === 'sign'
        ? ['alg', 'key', 'label', 'components', 'created', 'nonce', 'keyid', 'tag', 'digest', 'in', 'out', 'no-alg', 'lib-pss-salt']
        : ['alg', 'key', 'label', 'in'];
    const opts = {};
    for (let i = 0; i < rest.length; i++) {
        const a = rest[i];
        if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${a}`);
        const name = a.slice(2);
        if (!allowed.includes(name)) throw new UsageError(`unknown option ${a} for ${cmd}`);
        if (flags.has(name)) { opts[name] = true; continue; }
        if (i + 1 >= rest.length) throw new UsageError(`${a} needs a value`);
        opts[name] = rest[++i];
    }
    const required = cmd === 'sign' ? ['alg', 'key', 'label', 'components', 'in', 'out'] : ['alg', 'key', 'in'];
    for (const r of required) if (opts[r] === undefined) throw new UsageError(`--${r} is required`);
    if (!ALGS.includes(opts.alg)) throw new UsageError(`unsupported --alg ${opts.alg}`);
    if (opts.digest !== undefined && !DIGESTS[opts.digest]) throw new UsageError(`unsupported --digest ${opts.digest}`);
    if (opts.created !== undefined && !/^[0-9]+$/.test(opts.created)) throw new UsageError('--created must be an integer');
    return { cmd, opts };
}

// --------------------------------------------------------------------------
// HTTP/1.1 message file

function parseMessage(buf) {
    const crlf = buf.indexOf('\r\n\r\n');
    const lf = buf.indexOf('\n\n');
    let head, body, eol;
    if (crlf !== -1 && (lf === -1 || crlf < lf)) {
        head = buf.subarray(0, crlf); body = buf.subarray(crlf + 4); eol = '\r\n';
    } else if (lf !== -1) {
        head = buf.subarray(0, lf); body = buf.subarray(lf + 2); eol = '\n';
    } else {
        head = buf; body = Buffer.alloc(0); eol = buf.includes('\r\n') ? '\r\n' : '\n';
    }
    const lines = head.toString('latin1').replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
    const requestLine = lines[0];
    const parts = requestLine.split(' ');
    if (parts.length !== 3 || !parts[2].startsWith('HTTP/')) {
        throw new UsageError(`not an HTTP/1.1 request line: ${JSON.stringify(requestLine)}`);
    }
    const [method, target] = parts;
    const fields = []; // [name, value] in wire order
    for (const line of lines.slice(1)) {
        if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length) { // obs-fold
            fields[fields.length - 1][1] += ' ' + line.trim();
            continue;
        }
        const idx = line.indexOf(':');
        if (idx <= 0 || line.slice(0, idx).trim() !== line.slice(0, idx)) {
            throw new UsageError(`malformed header line: ${JSON.stringify(line)}`);
        }
        fields.push([line.slice(0, idx), line.slice(idx + 1).replace(/^[ \t]+|[ \t]+$/g, '')]);
    }
    let url;
    if (/^https?:\/\//.test(target)) {
        url = target;
    } else {
        const host = fields.find(([n]) => n.toLowerCase() === 'host');
        if (!host) throw new UsageError('message has no Host header');
        url = `https://${host[1]}${target}`;
    }
    return { requestLine, method, target, url, fields, body, eol };
}

// The library takes headers as an object; repeated field lines become arrays
// (it joins them with ", "). Names keep their spelling.
function headersObject(fields) {
    const obj = {};
    for (const [name, value] of fields) {
        const existing = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
        if (existing === undefined) obj[name] = value;
        else obj[existing] = [].concat(obj[existing], value);
    }
    return obj;
}

function serializeMessage(msg) {
    const head = [msg.requestLine, ...msg.fields.map(([n, v]) => `${n}: ${v}`)];
    return Buffer.concat([Buffer.from(head.join(msg.eol) + msg.eol + msg.eol, 'latin1'), msg.body]);
}

function getField(fields, name) {
    const vals = fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    return vals.length ? vals.join(', ') : undefined;
}

// --------------------------------------------------------------------------
// keys

function loadKey(path, alg, isPrivate) {
    let data;
    try {
        data = readFileSync(path);
    } catch (e) {
        throw new UsageError(`cannot read key file ${path}: ${e.message}`);
    }
    if (alg === 'hmac-sha256') {
        let jwk;
        try { jwk = JSON.parse(data.toString('utf8')); } catch { jwk = null; }
        if (!jwk || jwk.kty !== 'oct' || typeof jwk.k !== 'string') {
            throw new UsageError('hmac-sha256 key must be a JWK {"kty":"oct","k":"<base64url>"}');
        }
        return Buffer.from(jwk.k, 'base64url');
    }
    try {
        const pem = data.toString('utf8');
        if (pem.includes('PRIVATE KEY')) {
            const key = crypto.createPrivateKey(pem);
            return isPrivate ? key : crypto.createPublicKey(key);
        }
        if (isPrivate) throw new UsageError(`${path}: signing needs a PEM private key`);
        return crypto.createPublicKey(pem);
    } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`cannot load PEM key ${path}: ${e.message}`);
    }
}

// '"@method" "@target-uri";req' -> ['"@method"', '"@target-uri";req']
function parseComponents(text) {
    let list;
    try {
        list = sh.parseList(`(${text.trim()})`);
    } catch (e) {
        throw new UsageError(`--components is not a list of SF strings: ${e.message}`);
    }
    const items = list[0][0];
    if (!items.every(([v]) => typeof v === 'string')) throw new UsageError('--components items must be quoted SF strings');
    return items.map((item) => sh.serializeItem(item));
}

function contentDigest(body, name) {
    return `${name}=:${crypto.createHash(DIGESTS[name]).update(body).digest('base64')}:`;
}

// --------------------------------------------------------------------------
// commands

async function cmdSign(o) {
    const msg = parseMessage(readInput(o.in));
    const fields = parseComponents(o.components);
    const key = loadKey(o.key, o.alg, true);
    let signingKey;
    if (o.alg === 'rsa-pss-sha512' && !o['lib-pss-salt']) {
        // Library bug: createSigner('rsa-pss-sha512') signs with node's default PSS
        // salt length (RSA_PSS_SALTLEN_MAX_SIGN: 190 bytes for RSA-2048), but
        // RFC 9421 section 3.3.1 fixes the salt at 64 bytes and strict verifiers
        // (e.g. pyca/cryptography, used by the Python peer) reject other lengths.
        // Use the library's documented custom-signer extension point instead.
        // --lib-pss-salt keeps the library's own signer.
        signingKey = {
            alg: o.alg,
            sign: async (data) => crypto.sign('sha512', data, {
                key,
                padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
                saltLength: 64,
            }),
        };
    } else {
        signingKey = hms.createSigner(key, o.alg);
    }
    if (o.keyid !== undefined) signingKey.id = o.keyid;
    if (o.digest) {
        // No Content-Digest support in the library: add the header here (node:crypto).
        const existing = getField(msg.fields, 'content-digest');
        if (existing === undefined) {
            msg.fields.push(['Content-Digest', contentDigest(msg.body, o.digest)]);
        } else if (!verifyDigestField(existing, msg.body).ok) {
            throw new SignError('existing Content-Digest does not match the body');
        }
        if (!fields.some((f) => /^"content-digest"(;|$)/.test(f))) fields.push('"content-digest"');
    }
    // Parameter order mirrors the Python library: created, keyid, alg, nonce, tag.
    // The library only emits a listed parameter when it has a truthy value, and
    // would add `expires` = created + 300 s by default (we do not list it).
    const params = ['created', 'keyid', 'alg', 'nonce', 'tag'].filter((p) => {
        if (p === 'keyid') return o.keyid !== undefined;
        if (p === 'alg') return !o['no-alg'];
        if (p === 'nonce') return o.nonce !== undefined;
        if (p === 'tag') return o.tag !== undefined;
        return true;
    });
    const paramValues = {};
    if (o.created !== undefined) paramValues.created = new Date(Number(o.created) * 1000);
    if (o.nonce !== undefined) paramValues.nonce = o.nonce;
    if (o.tag !== undefined) paramValues.tag = o.tag;
    const request = { method: msg.method, url: msg.url, headers: headersObject(msg.fields) };
    let signed;
    try {
        signed = await signMessage({ key: signingKey, name: o.label, fields, params, paramValues }, request);
    } catch (e) {
        throw new SignError(e.message);
    }
    // The library returns a new headers object with Signature / Signature-Input
    // set (it appends to existing dictionaries and renames the label `<label>N`
    // if taken). Replace/append only those two fields, keeping the original lines.
    for (const lc of ['signature-input', 'signature']) {
        const entry = Object.entries(signed.headers).find(([n]) => n.toLowerCase() === lc);
        if (!entry) throw new SignError(`library did not set ${lc}`);
        msg.fields = msg.fields.filter(([n]) => n.toLowerCase() !== lc);
        msg.fields.push(entry);
    }
    writeOutput(o.out, serializeMessage(msg));
    return 0;
}

class SignError extends Error {}

// Check every sha-256/sha-512 member of a Content-Digest value against the body.
function verifyDigestField(value, body) {
    let dict;
    try {
        dict = sh.parseDictionary(value);
    } catch (e) {
        return { ok: false, reason: `malformed Content-Digest: ${e.message}` };
    }
    let checked = 0;
    for (const [alg, [bytes]] of dict) {
        if (!DIGESTS[alg]) continue;
        if (!(bytes instanceof ArrayBuffer)) return { ok: false, reason: `Content-Digest ${alg} is not a byte sequence` };
        const expected = crypto.createHash(DIGESTS[alg]).update(body).digest();
        const got = Buffer.from(bytes);
        if (got.length !== expected.length || !crypto.timingSafeEqual(got, expected)) {
            return { ok: false, reason: `Content-Digest ${alg} does not match the body` };
        }
        checked++;
    }
    if (!checked) return { ok: false, reason: 'Content-Digest has no sha-256 or sha-512 member' };
    return { ok: true };
}

async function cmdVerify(o) {
    const msg = parseMessage(readInput(o.in));
    const key = loadKey(o.key, o.alg, false);
    const headers = headersObject(msg.fields);
    const sigInputName = Object.keys(headers).find((k) => k.toLowerCase() === 'signature-input');
    const sigName = Object.keys(headers).find((k) => k.toLowerCase() === 'signature');
    if (!sigInputName || !sigName) return invalid('message has no Signature-Input / Signature');
    let inputs, sigs;
    try {
        inputs = sh.parseDictionary([].concat(headers[sigInputName]).join(', '));
        sigs = sh.parseDictionary([].concat(headers[sigName]).join(', '));
    } catch (e) {
        return invalid(`malformed signature fields: ${e.message}`);
    }
    // verifyMessage() checks every label it finds a key for and its keyLookup
    // cannot see labels, so select the label here by handing it only that member.
    let label = o.label;
    if (label === undefined) {
        if (inputs.size !== 1) return invalid(`${inputs.size} signatures present; pass --label`);
        label = [...inputs.keys()][0];
    }
    if (!inputs.has(label) || !sigs.has(label)) return invalid(`no signature labelled "${label}"`);
    const input = inputs.get(label);
    headers[sigInputName] = sh.serializeDictionary(new Map([[label, input]]));
    headers[sigName] = sh.serializeDictionary(new Map([[label, sigs.get(label)]]));
    const verifier = hms.createVerifier(key, o.alg);
    let result;
    try {
        result = await verifyMessage({
            // Any keyid resolves to the one key we were given; `algs` makes the
            // library reject a signature whose alg parameter names another algorithm.
            keyLookup: async (params) => ({ id: params.keyid, algs: [o.alg], verify: verifier }),
            // Defaults: tolerance 0, notAfter now (created in the future fails),
            // expires checked, no max age.
        }, { method: msg.method, url: msg.url, headers });
    } catch (e) {
        return invalid(`${e.name}: ${e.message}`);
    }
    if (result === null) return invalid('library returned null (no signature or no key)');
    if (result !== true) return invalid('signature does not verify');
    const covered = Array.isArray(input[0]) ? input[0].map(([v]) => v) : [];
    const digestValue = getField(msg.fields, 'content-digest');
    let note = '';
    if (digestValue !== undefined) {
        // The library has no digest support: check it here with node:crypto. An
        // uncovered Content-Digest is still checked but reported as not covered
        // (as mcp-auth does without --require-digest).
        const d = verifyDigestField(digestValue, msg.body);
        if (!d.ok) return invalid(d.reason);
        note = covered.includes('content-digest') ? ' digest-checked' : ' digest-matches-but-NOT-covered';
    }
    const params = Object.fromEntries([...input[1]].map(([k, v]) => [k, v instanceof ArrayBuffer ? Buffer.from(v).toString('base64') : String(v)]));
    process.stderr.write(`valid: label=${label} params=${JSON.stringify(params)} covered=[${covered.join(' ')}]${note}\n`);
    return 0;
}

function invalid(reason) {
    process.stderr.write(`invalid: ${reason}\n`);
    return 1;
}

function readInput(path) {
    try {
        return path === '-' ? readFileSync(0) : readFileSync(path);
    } catch (e) {
        throw new UsageError(`cannot read ${path}: ${e.message}`);
    }
}

function writeOutput(path, data) {
    if (path === '-') process.stdout.write(data);
    else writeFileSync(path, data);
}

async function main() {
    try {
        const { cmd, opts } = parseArgs(process.argv.slice(2));
        return cmd === 'sign' ? await cmdSign(opts) : await cmdVerify(opts);
    } catch (e) {
        if (e instanceof UsageError) {
            process.stderr.write(`peer.mjs: ${e.message}\n`);
            return 2;
        }
        if (e instanceof SignError) {
            process.stderr.write(`sign failed: ${e.message}\n`);
            return 1;
        }
        throw e;
    }
}

process.exitCode = await main();
