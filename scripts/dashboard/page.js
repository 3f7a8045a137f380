// The verifying page's DOM glue (plain JavaScript, bundled by scripts/build-dashboard.ts with
// the client-sdk browser build and log-server/src/dashboard/verify-core.ts). Everything shown
// is written with textContent: nothing the server sends becomes markup.
import * as sdk from 'concord-sdk';
import { verifyLog, checkRoot, parseClaims, parseRoot } from 'concord-verify-core';

const $ = (id) => document.getElementById(id);
let report = null;

function iso(t) {
  return t === undefined ? '—' : new Date(t * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC');
}

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, v);
  return e;
}

function row(cells, attrs) {
  const tr = el('tr', undefined, attrs);
  cells.forEach((c, i) => {
    const td = c instanceof Node ? c : el(i === 0 ? 'th' : 'td', c);
    if (i === 0 && !(c instanceof Node)) td.setAttribute('scope', 'row');
    tr.append(td);
  });
  return tr;
}

function setSummary(status, text) {
  const s = $('summary');
  s.textContent = text;
  s.dataset.status = status;
  s.className = status === 'verified' ? 'ok' : status === 'failed' ? 'bad' : '';
}

function render(r) {
  const dl = $('checkpoint');
  dl.replaceChildren();
  const wt = $('witnesses').tBodies[0];
  wt.replaceChildren();
  const rt = $('releases').tBodies[0];
  rt.replaceChildren();
  $('false-claims').replaceChildren();
  if (r.checkpoint) {
    const c = r.checkpoint;
    const cosigned = c.witnesses.filter((w) => w.times.length > 0).length;
    const items = [
      ['Tree size', String(c.size), 'size'],
      ['Root hash', c.root, 'root'],
      ['Policy in force', `policy ${c.policySequence} (leaf ${c.policyLeaf})`, 'policy'],
      ['Witnesses', `${cosigned} of ${c.witnesses.length} cosigned; quorum ${c.quorum}`, 'witnesses'],
      ['Seen by a quorum', iso(c.seenBy), 'seen'],
      ['Last confirmed', c.aliveAt === undefined ? '—' : `${iso(c.aliveAt)} (${Math.max(0, Math.round(Date.now() / 1000 - c.aliveAt))} s ago)`, 'alive'],
    ];
    for (const [k, v, f] of items) {
      dl.append(el('dt', k));
      const dd = el('dd', undefined, { 'data-field': f });
      dd.append(el(f === 'root' ? 'code' : 'span', v));
      dl.append(dd);
    }
    for (const w of c.witnesses) wt.append(row([w.name, w.times.length === 0 ? 'did not cosign' : w.times.map(iso).join(', ')], { 'data-witness': w.name }));
  }
  for (const x of [...r.releases].reverse()) {
    const ok = x.problems.length === 0;
    const status = el('td', undefined, { 'data-field': 'status' });
    status.append(el('strong', ok ? 'verified' : 'FAILED', { class: ok ? 'ok' : 'bad' }));
    if (!ok) status.append(el('span', ': ' + x.problems.join('; ')));
    else {
      const notes = [];
      if (!x.noticed) notes.push('notice period not over');
      if (x.expired) notes.push('expired');
      if (notes.length > 0) status.append(el('span', ` (${notes.join(', ')})`, { class: 'muted' }));
    }
    const root = el('td');
    root.append(el('code', x.root));
    rt.append(
      row(
        [
          `Release ${x.sequence}`,
          el('td', x.index, { class: 'num' }),
          root,
          el('td', x.count, { class: 'num', 'data-field': 'count' }),
          el('td', x.added, { class: 'num' }),
          el('td', x.removed, { class: 'num' }),
          x.endorsedBy.map((o) => `${o.org} (${o.jurisdiction})`).join(', ') || 'none',
          iso(x.publishedAt),
          status,
        ],
        { 'data-release': String(x.sequence), 'data-status': ok ? 'verified' : 'failed' },
      ),
    );
  }
  for (const f of r.falseClaims) $('false-claims').append(el('li', f));
}

async function fetchClaims(url) {
  try {
    const res = await fetch(url.replace(/\/+$/, '') + '/dashboard.json', { cache: 'no-store' });
    if (!res.ok) return undefined;
    const text = await res.text();
    if (text.length > 1 << 20) return undefined;
    return parseClaims(JSON.parse(text));
  } catch {
    return undefined;
  }
}

async function run() {
  const url = $('log-url').value.trim();
  const origin = $('origin').value.trim();
  report = null;
  const anchor = parseRoot(sdk, $('anchor').value);
  if (anchor === undefined) {
    setSummary('failed', 'Verification FAILED: the initial policy leaf hash must be 32 bytes, as 64 hex or 44 base64 characters.');
    return;
  }
  const params = new URLSearchParams({ log: url, origin, anchor: sdk.bytes.toHex(anchor) });
  history.replaceState(null, '', '#' + params.toString());
  setSummary('running', 'Verifying…');
  const claims = await fetchClaims(url);
  const r = await verifyLog(sdk, {
    url,
    origin,
    anchor,
    now: Math.floor(Date.now() / 1000),
    claims,
    progress: (m) => ($('progress').textContent = m),
  });
  report = r;
  $('progress').textContent = '';
  render(r);
  if (!r.ok) {
    setSummary('failed', `Verification FAILED: ${r.error}`);
  } else {
    const bad = r.releases.filter((x) => x.problems.length > 0).length;
    const good = r.releases.length - bad;
    if (bad > 0 || r.falseClaims.length > 0) {
      setSummary('failed', `Verification FAILED: checkpoint of size ${r.checkpoint.size} verified, but ${bad} of ${r.releases.length} releases failed${r.falseClaims.length > 0 ? ` and the dashboard misstates ${r.falseClaims.length}` : ''}.`);
    } else {
      setSummary('verified', `Verified: checkpoint of size ${r.checkpoint.size} signed by the log key and cosigned by a witness quorum; all ${good} releases verified.`);
    }
  }
  const pending = $('root').value.trim();
  if (pending !== '') answerRoot();
}

function answerRoot() {
  const out = $('root-answer');
  const value = $('root').value;
  if (report === null || !report.ok) {
    out.textContent = 'Verify the log first: a root can only be checked against a verified log.';
    out.dataset.outcome = 'no-log';
    out.className = 'bad';
    return;
  }
  const a = checkRoot(sdk, report, value);
  out.dataset.outcome = a.outcome;
  if (a.outcome === 'not-a-root') {
    out.textContent = 'That is not a database root: a root is 32 bytes, pasted as 44 base64 or 64 hex characters.';
    out.className = 'bad';
  } else if (a.outcome === 'unknown') {
    out.textContent = 'Not a logged release: no release in the verified log has this database root.';
    out.className = 'bad';
  } else {
    const x = a.release;
    const orgs = x.endorsedBy.map((o) => `${o.org} (${o.jurisdiction})`).join(', ');
    out.textContent =
      a.outcome === 'verified'
        ? `Yes: release ${x.sequence}, logged at index ${x.index}, endorsed by ${orgs}, published ${iso(x.publishedAt)} under witness cosignatures${x.expired ? '; it has EXPIRED' : ''}.`
        : `Release ${x.sequence} has this root, but it did not verify: ${x.problems.join('; ')}.`;
    out.className = a.outcome === 'verified' ? 'ok' : 'bad';
  }
}

async function init() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const httpPage = location.protocol === 'http:' || location.protocol === 'https:';
  const url = frag.get('log') ?? (httpPage ? location.origin : '');
  $('log-url').value = url;
  if (frag.get('root')) $('root').value = frag.get('root');
  const origin = frag.get('origin');
  const anchor = frag.get('anchor');
  if (origin && anchor) {
    $('origin').value = origin;
    $('anchor').value = anchor;
    $('anchor-source').textContent = 'Trust anchors taken from this page\'s address. Compare them with ones you obtained independently.';
  } else if (url !== '') {
    const claims = await fetchClaims(url);
    if (claims?.origin !== undefined) $('origin').value = claims.origin;
    if (claims?.anchor !== undefined) $('anchor').value = claims.anchor;
    $('anchor-source').textContent =
      'These trust anchors were suggested by the server itself: a malicious server could suggest its own. Paste the ones published independently (the README, your device vendor) to be sure.';
  }
  $('anchor-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void run();
  });
  $('root-form').addEventListener('submit', (e) => {
    e.preventDefault();
    answerRoot();
  });
  if ($('log-url').value && $('origin').value && $('anchor').value) await run();
}

void init();
