import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentSecurityPolicy, escapeHtml, makeNonce, webviewHtml } from '../../../extension/panels/html';

const page = (nonce = 'abc123') => webviewHtml({
  title: 'HBPO: <run> "x"', cspSource: 'https://file+.vscode-resource.vscode-cdn.net', nonce,
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/dashboard.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/dashboard.css',
});

test('the policy allows only the nonce-tagged script and local resources', () => {
  const csp = contentSecurityPolicy('vscode-resource:', 'N0nce');
  const directives = Object.fromEntries(csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));
  assert.deepEqual(directives, {
    'default-src': ["'none'"],
    'script-src': ["'nonce-N0nce'"],
    'style-src': ['vscode-resource:', "'nonce-N0nce'"],
    'img-src': ['vscode-resource:', 'data:'],
    'font-src': ['vscode-resource:'],
  });
  assert.doesNotMatch(csp, /unsafe|https?:|\*/);
});

test('the page: one CSP meta tag, one nonce-tagged module script, no inline script or style', () => {
  const html = page();
  assert.equal(html.match(/<meta http-equiv="Content-Security-Policy"/g)?.length, 1);
  const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0][1], /nonce="abc123"/);
  assert.match(scripts[0][1], /src="https:\/\/file\+\.vscode-resource\.vscode-cdn\.net\/ext\/dist\/webview\/dashboard\.js"/);
  assert.equal(scripts[0][2].trim(), '', 'no inline code');
  assert.doesNotMatch(html, /<style|style="/);
  assert.match(html, /<title>HBPO: &lt;run&gt; &quot;x&quot;<\/title>/, 'the title is escaped');
});

test('nonces are fresh per load and valid CSP base64', () => {
  const nonces = new Set(Array.from({ length: 50 }, makeNonce));
  assert.equal(nonces.size, 50);
  for (const n of nonces) assert.match(n, /^[A-Za-z0-9+/]{22}==$/);
  assert.notEqual(page(makeNonce()), page(makeNonce()));
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});
