// Uploads a file to a Roomy server with tus-js-client (the reference tus
// client), cuts the upload off part-way, resumes it from the URL the first
// attempt got, and finishes. Run by `roomy-bench tus-interop`, which starts
// the server, supplies the environment and checks the stored file.
//
// Environment: ROOMY_URL (http://127.0.0.1:PORT), ROOMY_TOKEN (a bearer
// token), ROOMY_FILE (the file to upload).
// On success prints one JSON line {"url", "resumed_from", "size", ...} and
// exits 0; on any error says why on stderr and exits 1.

import fs from 'node:fs';
import path from 'node:path';
import { Upload } from 'tus-js-client';

// Small chunks, so the file takes many PATCHes and the cut lands mid-upload.
const CHUNK_SIZE = 256 * 1024;
// The share of the file sent before the cut.
const CUT_AT = 0.4;
// A bound on the whole run: the caller's own limit is a backstop, not the plan.
const TIME_LIMIT_MS = 120_000;

function fail(message) {
  console.error(`interop.mjs: ${message}`);
  process.exit(1);
}

function env(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is not set`);
  return value;
}

const base = env('ROOMY_URL').replace(/\/+$/, '');
const token = env('ROOMY_TOKEN');
const file = env('ROOMY_FILE');
const size = fs.statSync(file).size;
if (size < 2 * CHUNK_SIZE) fail(`${file} is too small to cut: ${size} bytes`);

setTimeout(() => fail(`gave up after ${TIME_LIMIT_MS} ms`), TIME_LIMIT_MS).unref();

// Options both attempts share. A path-backed ReadStream lets tus-js-client
// read any slice again, which is what makes a Node upload resumable.
const common = {
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: path.basename(file), filetype: 'application/octet-stream' },
  chunkSize: CHUNK_SIZE,
};

// The first attempt: starts the upload and aborts it once CUT_AT of the
// file is on its way, as a dropped connection would. Resolves with the
// upload's URL.
function firstAttempt() {
  return new Promise((resolve, reject) => {
    let cut = false;
    const upload = new Upload(fs.createReadStream(file), {
      ...common,
      endpoint: `${base}/api/v1/uploads`,
      // No retries: an error here must fail the run, not be papered over.
      retryDelays: null,
      onProgress(sent, total) {
        if (cut || sent < total * CUT_AT || !upload.url) return;
        cut = true;
        // abort() stops the PATCH in flight; the server keeps what it got.
        upload.abort().then(() => resolve({ url: upload.url, cutAt: sent }), reject);
      },
      onSuccess() {
        reject(new Error('the first attempt finished before it could be cut'));
      },
      onError: reject,
    });
    upload.start();
  });
}

// The second attempt: resumes from `url` (HEAD, then PATCHes from the
// server's offset). Resolves with where it started and how it went.
function secondAttempt(url) {
  return new Promise((resolve, reject) => {
    let resumedFrom = null;
    let headOffset = null;
    let patches = 0;
    let retries = 0;
    const upload = new Upload(fs.createReadStream(file), {
      ...common,
      // No endpoint: if the server lost the upload, tus-js-client would
      // otherwise quietly start a new one, and nothing would be resumed.
      uploadUrl: url,
      // A short wait covers a server still finishing the cut-off PATCH
      // (it may answer 423 Locked meanwhile); every retry is reported.
      retryDelays: [100, 500, 1000],
      onShouldRetry(err, attempt) {
        // tus-js-client's own rule: a client error is final, except a
        // conflict or a lock, which a moment may resolve.
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        const retry = !(status >= 400 && status < 500) || status === 409 || status === 423;
        if (retry) {
          retries += 1;
          console.error(`interop.mjs: retry ${attempt + 1} after: ${err.message}`);
        }
        return retry;
      },
      onBeforeRequest(req) {
        if (req.getMethod() === 'POST') {
          reject(new Error('the resumed upload tried to create a new upload'));
        }
      },
      onAfterResponse(req, res) {
        if (req.getMethod() === 'HEAD' && res.getStatus() === 200) {
          headOffset = Number.parseInt(res.getHeader('Upload-Offset'), 10);
        }
        if (req.getMethod() === 'PATCH') patches += 1;
      },
      onProgress(sent) {
        // tus-js-client reports the starting offset before the first PATCH.
        if (resumedFrom === null) resumedFrom = sent;
      },
      onSuccess() {
        if (upload.url !== url) {
          reject(new Error(`finished at ${upload.url}, not the resumed ${url}`));
        } else if (resumedFrom !== headOffset) {
          reject(new Error(`started at ${resumedFrom} but HEAD said ${headOffset}`));
        } else {
          resolve({ resumedFrom, patches, retries });
        }
      },
      onError: reject,
    });
    upload.start();
  });
}

try {
  const first = await firstAttempt();
  // Let the server see the dropped connection before asking where it stands.
  await new Promise((r) => setTimeout(r, 250));
  const second = await secondAttempt(first.url);
  if (!(second.resumedFrom > 0)) {
    fail(`the resumed upload started at offset ${second.resumedFrom}, not past 0`);
  }
  console.log(
    JSON.stringify({
      url: first.url,
      resumed_from: second.resumedFrom,
      size,
      cut_at: first.cutAt,
      patches_after_resume: second.patches,
      retries: second.retries,
    }),
  );
  process.exit(0);
} catch (err) {
  fail(err && err.stack ? err.stack : String(err));
}
