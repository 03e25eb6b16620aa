// The Nexus console. It speaks the Connect protocol's JSON form
// (POST /nexus.v1.Service/Method, application/json) with fetch; the API
// key stays in this tab's sessionStorage. Everything the page shows comes
// from the API, which decides what the caller may see and do.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY = 'nexus.key';
let cwd = '/';
let sharePath = '';
let cwdWritable = false; // whether the caller may create in the open folder

class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

async function call(service, method, body) {
  let resp;
  try {
    const headers = { 'Content-Type': 'application/json' };
    const key = sessionStorage.getItem(KEY);
    if (key) headers['Authorization'] = 'Bearer ' + key; // a link needs none
    resp = await fetch(`/nexus.v1.${service}/${method}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body || {}),
    });
  } catch (e) {
    throw new ApiError('unavailable', 'The Nexus server cannot be reached. Is it running?');
  }
  const text = await resp.text();
  let data = {};
  if (text) {
    try { data = JSON.parse(text); } catch (e) {
      throw new ApiError('internal', `The server sent an answer that is not JSON (HTTP ${resp.status}).`);
    }
  }
  if (!resp.ok) throw new ApiError(data.code || 'unknown', data.message || `HTTP ${resp.status}`);
  return data;
}

// words says what went wrong, for a person.
function words(err) {
  const m = err.message || '';
  switch (err.code) {
    case 'unauthenticated': return 'That API key was not accepted: it is unknown, revoked or expired. Check the key and sign in again.';
    case 'permission_denied': return 'Not allowed: ' + m;
    case 'not_found': return 'Not found: ' + m;
    case 'already_exists': return 'Already exists: ' + m;
    case 'invalid_argument': return 'Not valid: ' + m;
    case 'failed_precondition': return 'Cannot do that now: ' + m;
    case 'resource_exhausted': return 'Too much at once: ' + m;
    case 'unavailable': return m;
    default: return 'Something went wrong: ' + m;
  }
}

function showError(err) {
  const e = $('error');
  e.textContent = err instanceof ApiError ? words(err) : 'Something went wrong: ' + err.message;
  e.hidden = false;
}
function clearError() { $('error').hidden = true; $('error').textContent = ''; }
function say(msg) { $('status').textContent = msg; }

// run performs one user action, showing its error in words.
async function run(fn) {
  clearError();
  try { await fn(); } catch (err) { showError(err); }
}

function join(dir, name) { return (dir.endsWith('/') ? dir : dir + '/') + name; }

function el(tag, props, ...children) {
  const n = document.createElement(tag);
  Object.assign(n, props || {});
  for (const c of children) n.append(c);
  return n;
}

function toBase64(buf) {
  const bytes = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function fromBase64(b64) {
  const s = atob(b64 || '');
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function fmtTime(ts) { return ts ? new Date(ts).toLocaleString() : ''; }

// fmtSize says a size as people read it: 999 bytes, 1.5 KiB, 20.0 MiB.
function fmtSize(n) {
  n = Number(n || 0);
  if (n < 1024) return n + (n === 1 ? ' byte' : ' bytes');
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let u = -1;
  do { n /= 1024; u++; } while (n >= 1024 && u < units.length - 1);
  return n.toFixed(1) + ' ' + units[u];
}
function isFolder(e) { return e.kind === 'ENTRY_KIND_FOLDER'; }

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  let who;
  try {
    who = await call('IdentityService', 'WhoAmI');
  } catch (err) {
    sessionStorage.removeItem(KEY);
    throw err;
  }
  const u = who.user || {};
  $('whoami').textContent = `Signed in as ${u.name} (zone ${u.zone})` + (who.operator ? ', operator' : who.zoneAdmin ? ', zone admin' : '');
  $('signin-view').hidden = true;
  $('files-view').hidden = false;
  $('shared-view').hidden = false;
  $('memories-view').hidden = false;
  $('signout').hidden = false;
  await Promise.all([openFolder('/'), loadShared(), loadMemories('')]);
}

function signOut() {
  sessionStorage.removeItem(KEY);
  location.reload();
}

// listAll lists a folder, every page, with what the caller may do with
// each entry and with the folder (permissions).
async function listAll(path) {
  const entries = [];
  let permissions = {};
  let pageToken = '';
  do {
    const r = await call('FileService', 'List', { path, pageSize: 1000, pageToken, withPermissions: true });
    entries.push(...(r.entries || []));
    permissions = r.permissions || {};
    pageToken = r.nextPageToken || '';
  } while (pageToken);
  return { entries, permissions };
}

// may reports whether the listing said the caller may perm ('write',
// 'share') an entry: buttons that would be refused are not shown.
function may(e, perm) {
  return (e.permissions || {})[perm] === true;
}

async function openFolder(path) {
  const { entries, permissions } = await listAll(path);
  cwd = path;
  cwdWritable = permissions.write === true;
  $('mkdir').hidden = !cwdWritable;
  $('upload').hidden = !cwdWritable;
  renderCrumbs();
  const body = $('entries');
  body.replaceChildren();
  for (const e of entries) {
    const open = el('button', { type: 'button', className: 'link', textContent: e.name + (isFolder(e) ? '/' : '') });
    open.title = isFolder(e) ? 'Open folder ' + e.path : 'Download ' + e.path;
    open.addEventListener('click', () => run(() => (isFolder(e) ? openFolder(e.path) : download(e.path, e.name))));
    const share = el('button', { type: 'button', textContent: 'Share…' });
    share.addEventListener('click', () => openShare(e.path));
    const versions = el('button', { type: 'button', textContent: 'Versions…' });
    versions.addEventListener('click', () => run(() => showVersions(e.path, may(e, 'write'))));
    const rename = el('button', { type: 'button', textContent: 'Rename…' });
    rename.addEventListener('click', () => run(() => renameEntry(e)));
    const del = el('button', { type: 'button', textContent: 'Delete…' });
    del.addEventListener('click', () => run(() => deleteEntry(e)));
    body.append(el('tr', { className: isFolder(e) ? 'folder' : 'file' },
      el('td', {}, open),
      el('td', { textContent: isFolder(e) ? '' : fmtSize(e.size), title: isFolder(e) ? '' : (e.size || '0') + ' bytes' }),
      el('td', { textContent: isFolder(e) ? '' : (e.version || '') }),
      el('td', { textContent: fmtTime(e.modifiedAt) }),
      el('td', { className: 'actions' }, ...(may(e, 'share') ? [share] : []), ...(isFolder(e) ? [] : [versions]),
        ...(may(e, 'write') && cwdWritable ? [rename, del] : []))));
  }
  $('empty').hidden = entries.length > 0;
  say(`${path}: ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}`);
}

// showVersions lists a file's versions, newest first, each older one with
// a button that restores it (as a new version) if the caller may write it.
async function showVersions(path, writable) {
  const r = await call('FileService', 'ListVersions', { path });
  $('versions-path').textContent = path;
  const list = $('versions-list');
  list.replaceChildren();
  (r.versions || []).forEach((v, i) => {
    const text = `version ${v.version} · ${fmtSize(v.size)} · ${v.createdBy || ''} · ${fmtTime(v.createdAt)}` + (i === 0 ? ' (current)' : '');
    const li = el('li', {}, el('span', { textContent: text }));
    if (i > 0 && writable) {
      const b = el('button', { type: 'button', textContent: 'Restore' });
      b.addEventListener('click', () => run(async () => {
        const res = await call('FileService', 'RestoreVersion', { path, version: String(v.version) });
        await openFolder(cwd);
        await showVersions(path, writable);
        say(`Restored ${path} to version ${v.version}'s content, as version ${res.entry.version}`);
      }));
      li.append(' ', b);
    }
    list.append(li);
  });
  $('versions').hidden = false;
}

// marked renders a snippet with its highlights (byte ranges of its UTF-8
// text) in <mark>.
function marked(snippet) {
  const bytes = new TextEncoder().encode(snippet.text || '');
  const dec = new TextDecoder();
  const out = el('span', { className: 'snippet' });
  let at = 0;
  for (const h of snippet.highlights || []) {
    const start = Number(h.start || 0), end = Number(h.end || 0);
    if (start < at || end <= start) continue;
    out.append(dec.decode(bytes.subarray(at, start)), el('mark', { textContent: dec.decode(bytes.subarray(start, end)) }));
    at = end;
  }
  out.append(dec.decode(bytes.subarray(at)));
  return out;
}

async function searchFiles(query) {
  const r = await call('SearchService', 'Search', { query, pageSize: 20 });
  const list = $('search-hits');
  list.replaceChildren();
  const hits = r.hits || [];
  for (const h of hits) {
    const e = h.entry || {};
    const b = el('button', { type: 'button', className: 'link', textContent: e.path });
    b.addEventListener('click', () => run(() => download(e.path, e.name)));
    list.append(el('li', {}, b, el('div', { className: 'meta' }, marked(h.snippet || {}))));
  }
  say(`${hits.length} ${hits.length === 1 ? 'file matches' : 'files match'} "${query}"`);
}

// grepFiles lists the lines below the open folder that match pattern (RE2),
// each with its path and line number, the matches marked.
async function grepFiles(pattern) {
  const r = await call('FileService', 'Grep', { pattern, path: cwd, maxMatches: 100 });
  const list = $('search-hits');
  list.replaceChildren();
  const matches = r.matches || [];
  for (const m of matches) {
    const b = el('button', { type: 'button', className: 'link', textContent: `${m.path}:${m.lineNumber}` });
    b.addEventListener('click', () => run(() => download(m.path, m.path.split('/').pop())));
    list.append(el('li', {}, b, el('div', { className: 'meta' }, marked({ text: m.line, highlights: m.ranges }))));
  }
  say(`${matches.length} ${matches.length === 1 ? 'line matches' : 'lines match'} /${pattern}/ below ${cwd}` + (r.partial ? ` (stopped early: ${r.stoppedBy})` : ''));
}

// renameEntry renames or moves e: a name stays in this folder, a path
// starting with / moves it there.
async function renameEntry(e) {
  const to = prompt(`Rename or move ${e.path} to (a new name, or a path from /):`, e.name);
  if (!to || to === e.name) return;
  const dest = to.startsWith('/') ? to : join(cwd, to);
  await call('FileService', 'Move', { source: e.path, destination: dest });
  await openFolder(cwd);
  say(`Moved ${e.path} to ${dest}`);
}

async function deleteEntry(e) {
  const what = isFolder(e) ? `the folder ${e.path} and everything in it` : e.path;
  if (!confirm(`Delete ${what}?`)) return;
  await call('FileService', 'Delete', { path: e.path, recursive: isFolder(e) });
  await openFolder(cwd);
  say(`Deleted ${e.path}`);
}

function renderCrumbs() {
  const nav = $('crumbs');
  nav.replaceChildren();
  const parts = cwd.split('/').filter(Boolean);
  const root = el('button', { type: 'button', className: 'link', textContent: '/' });
  root.addEventListener('click', () => run(() => openFolder('/')));
  nav.append(root);
  let path = '';
  for (const p of parts) {
    path += '/' + p;
    const target = path;
    const b = el('button', { type: 'button', className: 'link', textContent: p });
    b.addEventListener('click', () => run(() => openFolder(target)));
    nav.append(el('span', { textContent: ' / ' }), b);
  }
  nav.lastChild.setAttribute('aria-current', 'location');
}

async function download(path, name) {
  const chunks = [];
  let offset = 0;
  for (;;) {
    const r = await call('FileService', 'Read', { path, offset: String(offset) });
    const data = fromBase64(r.data);
    chunks.push(data);
    offset += data.length;
    if (r.eof || data.length === 0) break;
  }
  save(chunks, name);
  say(`Downloaded ${path} (${offset} bytes)`);
}

// save hands bytes to the browser as a download named name.
function save(chunks, name) {
  const url = URL.createObjectURL(new Blob(chunks));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Share links in the browser: the console's address with #link=TOKEN (a
// fragment, which browsers never send to a server or in a Referer) opens
// the link without an account — its folder listed, its files downloaded,
// its password asked for when it has one.
let link = { token: '', password: '' };

function linkFromAddress() {
  const m = location.hash.match(/^#link=([^&]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

async function openLink(sub) {
  const children = [];
  let r, pageToken = '';
  try {
    do {
      r = await call('ShareService', 'OpenLink', { token: link.token, password: link.password, subPath: sub, pageSize: 1000, pageToken });
      children.push(...(r.children || []));
      pageToken = r.nextPageToken || '';
    } while (pageToken);
  } catch (err) {
    if (err.code === 'permission_denied' && /password/.test(err.message)) {
      $('link-password-form').hidden = false;
      $('link-password').focus();
      if (!link.password) { say('This link asks for a password.'); return; }
    }
    throw err;
  }
  $('link-password-form').hidden = true;
  const e = r.entry || {};
  renderLinkCrumbs(sub);
  const list = $('link-entries');
  list.replaceChildren();
  if (!isFolder(e)) {
    const name = e.name || sub.split('/').pop() || 'download';
    const b = el('button', { type: 'button', textContent: 'Download ' + name });
    const data = fromBase64(r.data);
    b.addEventListener('click', () => { save([data], name); say(`Downloaded ${name} (${data.length} bytes)`); });
    list.append(el('li', {}, b, el('span', { className: 'meta', textContent: ' ' + fmtSize(e.size) })));
    say(`${name}: ${fmtSize(e.size)}`);
    return;
  }
  for (const c of children) {
    const path = (sub ? sub.replace(/\/$/, '') : '') + '/' + c.name;
    const b = el('button', { type: 'button', className: 'link', textContent: c.name + (isFolder(c) ? '/' : '') });
    b.addEventListener('click', () => run(() => openLink(path)));
    list.append(el('li', {}, b, el('span', { className: 'meta', textContent: isFolder(c) ? '' : ' ' + fmtSize(c.size) })));
  }
  say(`${children.length} ${children.length === 1 ? 'entry' : 'entries'}`);
}

function renderLinkCrumbs(sub) {
  const nav = $('link-crumbs');
  nav.replaceChildren();
  const top = el('button', { type: 'button', className: 'link', textContent: '(top of the link)' });
  top.addEventListener('click', () => run(() => openLink('')));
  nav.append(top);
  let path = '';
  for (const p of (sub || '').split('/').filter(Boolean)) {
    path += '/' + p;
    const target = path;
    const b = el('button', { type: 'button', className: 'link', textContent: p });
    b.addEventListener('click', () => run(() => openLink(target)));
    nav.append(el('span', { textContent: ' / ' }), b);
  }
}

// oneCallBytes is the largest file sent in one Write; past it the upload
// goes in chunks (BeginUpload, AppendUpload, CommitUpload), as the server
// takes at most 16 MiB in one message and base64 adds a third.
const oneCallBytes = 4 << 20;

async function upload(path, file) {
  const mediaType = file.type || '';
  const bar = $('upload-progress');
  if (file.size <= oneCallBytes) {
    const data = toBase64(await file.arrayBuffer());
    return (await call('FileService', 'Write', { path, data, mediaType })).entry;
  }
  bar.value = 0;
  bar.hidden = false;
  try {
    return await uploadChunks(path, file, mediaType, bar);
  } finally {
    bar.hidden = true;
  }
}

async function uploadChunks(path, file, mediaType, bar) {
  const begin = await call('FileService', 'BeginUpload', { path, size: String(file.size), mediaType });
  const chunk = Math.min(Number(begin.maxChunkBytes || oneCallBytes), oneCallBytes);
  for (let off = 0; off < file.size; off += chunk) {
    const part = await file.slice(off, off + chunk).arrayBuffer();
    await call('FileService', 'AppendUpload', { uploadId: begin.uploadId, offset: String(off), data: toBase64(part) });
    const pct = Math.round(100 * Math.min(off + chunk, file.size) / file.size);
    bar.value = pct;
    say(`Uploading ${path}: ${pct}%`);
  }
  return (await call('FileService', 'CommitUpload', { uploadId: begin.uploadId })).entry;
}

const scopeWord = (s) => (s || 'MEMORY_SCOPE_USER').replace('MEMORY_SCOPE_', '').toLowerCase();

// loadMemories lists the memories the caller may read: the newest, or the
// best matches of query with the matched words marked.
async function loadMemories(query) {
  const list = $('memories');
  list.replaceChildren();
  let items;
  if (query) {
    const r = await call('MemoryService', 'Recall', { query, limit: 20 });
    items = (r.memories || []).map((h) => ({ m: h.memory || {}, snippet: h.snippet }));
  } else {
    const r = await call('MemoryService', 'List', { pageSize: 50 });
    items = (r.memories || []).map((m) => ({ m }));
  }
  for (const { m, snippet } of items) {
    const text = snippet ? marked(snippet) : el('span', { textContent: m.text || '' });
    const meta = [scopeWord(m.scope), ...(m.tags || []).map((t) => '#' + t), fmtTime(m.createdAt)].join(' · ');
    list.append(el('li', {}, text, el('br'), el('small', { className: 'hint', textContent: meta })));
  }
  $('memories-empty').hidden = items.length > 0;
  if (query) say(`Recall "${query}": ${items.length} ${items.length === 1 ? 'memory' : 'memories'}`);
}

// uploadAll uploads files into the open folder, one after another.
async function uploadAll(files) {
  let last;
  for (const file of files) {
    const path = join(cwd, file.name);
    const entry = await upload(path, file);
    last = `Uploaded ${path}: version ${entry.version}, ${fmtSize(entry.size)}`;
  }
  await openFolder(cwd);
  say(files.length === 1 ? last : `Uploaded ${files.length} files into ${cwd}`);
}

async function loadShared() {
  const r = await call('ShareService', 'SharedWithMe', { pageSize: 1000 });
  const list = $('shared');
  list.replaceChildren();
  const entries = r.entries || [];
  for (const s of entries) {
    const e = s.entry || {};
    const b = el('button', { type: 'button', className: 'link', textContent: e.name + (isFolder(e) ? '/' : '') });
    b.addEventListener('click', () => run(() => (isFolder(e) ? openFolder(e.path) : download(e.path, e.name))));
    const role = (s.role || '').replace('ROLE_', '').toLowerCase();
    list.append(el('li', {}, b, el('span', { className: 'meta', textContent: ` ${e.path} · ${role} via ${s.via}` })));
  }
  $('shared-empty').hidden = entries.length > 0;
}

function openShare(path) {
  sharePath = path;
  $('share-path').textContent = path;
  $('share-result').textContent = '';
  $('share').hidden = false;
  $('share-subject').focus();
  run(() => showAccess(path));
}

const roleWord = (r) => (r || '').replace('ROLE_', '').toLowerCase();

// showAccess lists the entry's grants (its own ones with a Revoke button;
// inherited ones name the folder that gives them) and every user who may
// read it, with why.
async function showAccess(path) {
  const r = await call('ShareService', 'ListGrants', { path });
  const grants = $('share-grants');
  grants.replaceChildren();
  for (const g of r.grants || []) {
    const text = `${g.subject}: ${roleWord(g.role)}` + (g.inherited ? ` (from ${g.path})` : '');
    const li = el('li', {}, el('span', { textContent: text }));
    if (!g.inherited && !g.subject.startsWith('link:')) {
      const b = el('button', { type: 'button', textContent: 'Revoke' });
      b.addEventListener('click', () => run(async () => {
        await call('ShareService', 'Revoke', { path, subject: g.subject, role: g.role });
        await showAccess(path);
        say(`Revoked ${roleWord(g.role)} of ${path} from ${g.subject}`);
      }));
      li.append(' ', b);
    }
    grants.append(li);
  }
  if (!grants.children.length) grants.append(el('li', { textContent: 'none on it or above it' }));
  const access = $('share-access');
  access.replaceChildren();
  for (const a of r.access || []) {
    access.append(el('li', { textContent: `${a.user} may ${a.permission}: ${(a.reasons || []).join('; ')}` }));
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('signin').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(() => signIn($('key').value.trim())).then(() => {
      if (!$('error').hidden) $('key').focus();
    });
  });
  $('signout').addEventListener('click', signOut);
  $('mkdir').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(async () => {
      const name = $('mkdir-name').value.trim();
      await call('FileService', 'Mkdir', { path: join(cwd, name) });
      $('mkdir-name').value = '';
      await openFolder(cwd);
      say(`Created folder ${join(cwd, name)}`);
    });
  });
  $('upload').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(async () => {
      const files = [...$('upload-file').files];
      if (!files.length) throw new ApiError('invalid_argument', 'choose a file first');
      await uploadAll(files);
      $('upload-file').value = '';
    });
  });
  // Files dropped on the folder's list go into the folder, if the caller
  // may create there.
  const drop = $('files-view');
  drop.addEventListener('dragover', (ev) => {
    if (!cwdWritable) return;
    ev.preventDefault();
    drop.classList.add('dropping');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('dropping'));
  drop.addEventListener('drop', (ev) => {
    drop.classList.remove('dropping');
    if (!cwdWritable || !ev.dataTransfer || !ev.dataTransfer.files.length) return;
    ev.preventDefault();
    run(() => uploadAll([...ev.dataTransfer.files]));
  });
  $('share').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(async () => {
      const subject = $('share-subject').value.trim();
      const role = $('share-role').value;
      await call('ShareService', 'Grant', { path: sharePath, subject, role });
      $('share-result').textContent = `${subject} is ${roleWord(role)} of ${sharePath}`;
      await showAccess(sharePath);
    });
  });
  $('share-link').addEventListener('click', () => run(async () => {
    const req = { path: sharePath, role: $('share-link-role').value };
    const password = $('share-link-password').value;
    if (password) req.password = password;
    const uses = parseInt($('share-link-uses').value, 10);
    if (uses > 0) req.maxUses = uses;
    if ($('share-link-expires').value) req.expiresIn = $('share-link-expires').value;
    const r = await call('ShareService', 'CreateLink', req);
    $('share-link-password').value = '';
    const url = `${location.origin}/#link=${encodeURIComponent(r.token)}`;
    $('share-result').textContent = `Link (shown once; store it now): ${url}` + (password ? ' — it asks for the password' : '') +
      (uses > 0 ? ` — good for ${uses} ${uses === 1 ? 'use' : 'uses'}` : '');
    await showAccess(sharePath);
  }));
  $('link-password-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    link.password = $('link-password').value;
    run(() => openLink(''));
  });
  $('share-close').addEventListener('click', () => { $('share').hidden = true; });
  $('versions-close').addEventListener('click', () => { $('versions').hidden = true; });
  $('recall').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(() => loadMemories($('recall-query').value.trim()));
  });
  $('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = $('search-query').value.trim();
    run(() => ($('search-grep').checked ? grepFiles(q) : searchFiles(q)));
  });

  link.token = linkFromAddress();
  if (link.token) {
    $('signin-view').hidden = true;
    $('link-view').hidden = false;
    run(() => openLink(''));
    return;
  }
  const key = sessionStorage.getItem(KEY);
  if (key) run(() => signIn(key));
  else $('key').focus();
});
